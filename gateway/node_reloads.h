// NodeReloads: what a node can put in force again without a restart, for
// the ConfigReloader (gateway/config_reloader.h): the registry file (a
// node with a file registry), the trust anchors and intermediates, the TLS
// certificate and key (of the gRPC port, the web console and the calls to
// adapters alike), the signing key and the log's when separate, and each
// federation anchor (its three files). Each is
// read whole and checked before it takes effect. It also installs the TLS
// copies the gRPC port serves with, at the start. Not thread-safe: called
// at the start, then by the ConfigReloader under its lock, one at a time.
#ifndef DX_GATEWAY_NODE_RELOADS_H_
#define DX_GATEWAY_NODE_RELOADS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "certs/crypto.h"
#include "certs/trust_store.h"
#include "common/clock.h"
#include "dx/v1/config.pb.h"
#include "gateway/config_reloader.h"

namespace dx::console {
class ConsoleServer;
}

namespace dx::gateway {

class AdapterPool;
class FederationAnchors;
class FederationRoutes;
class PeerPool;
class RegistryAdmin;

// The trust store's options from the configuration.
certs::TrustStore::Options TrustOptionsOf(const v1::GatewayConfig& config,
                                          const Clock* clock);

class NodeReloads {
 public:
  // Each must outlive this.
  struct Parts {
    const v1::GatewayConfig* config = nullptr;
    const Clock* clock = nullptr;
    certs::TrustStore* trust = nullptr;
    certs::Signer* signer = nullptr;
    // Null when the log signs with `signer`.
    certs::Signer* separate_log_signer = nullptr;
    AdapterPool* adapters = nullptr;
    // Null when the registry is not a file (a cluster's is etcd's).
    RegistryAdmin* file_registry_admin = nullptr;
    // Null without federation anchors.
    FederationAnchors* federation = nullptr;
    const FederationRoutes* federation_routes = nullptr;
    PeerPool* peers = nullptr;
  };
  // `anchors_pem`: the trust anchors the store was built from.
  NodeReloads(Parts parts, std::string anchors_pem)
      : parts_(parts), anchors_pem_(std::move(anchors_pem)) {}

  // The web console takes each new TLS pair first (null: none, or it
  // stopped).
  void SetConsole(console::ConsoleServer* console) { console_ = console; }
  // Checks the TLS pair and writes the copies gRPC serves with (refreshed
  // by gRPC every second), and hands it to the console and the adapters'
  // channels.
  absl::StatusOr<std::string> InstallTls();
  std::vector<ConfigReloader::Reloadable> Reloadables();

 private:
  absl::StatusOr<std::string> ReloadRegistry(const std::string& trigger);
  absl::StatusOr<std::string> ReloadSigner(const v1::KeyPair& files,
                                           certs::Signer* signer);
  absl::StatusOr<std::string> ReloadTrust();
  absl::Status CheckOwnCertificate(const std::string& what,
                                   const std::string& der);
  const certs::Signer& log_signer() const {
    return parts_.separate_log_signer != nullptr ? *parts_.separate_log_signer
                                                 : *parts_.signer;
  }

  const Parts parts_;
  // The trust anchors in force (PEM), as the trust store last accepted
  // them: what the TLS port and the adapters' channels are given, never the
  // file as it is now (it may hold anchors just refused).
  std::string anchors_pem_;
  console::ConsoleServer* console_ = nullptr;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_NODE_RELOADS_H_
