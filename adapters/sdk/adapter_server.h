// AdapterServer: the provider side of the Adapter service. Serves one or
// more datasets over mutual TLS, admits only gateway certificates (URI
// urn:dx:gateway:<node>) that verify as the gateway verifies its own
// callers (chain, validity, CRLs re-read when they change), and maps each
// call to its dataset's DataSource.
#ifndef DX_ADAPTERS_SDK_ADAPTER_SERVER_H_
#define DX_ADAPTERS_SDK_ADAPTER_SERVER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "adapters/sdk/data_source.h"
#include "certs/trust_store.h"
#include "common/periodic.h"

namespace grpc {
class Server;
}
namespace dx::metrics {
class HttpEndpoint;
class Metrics;
}  // namespace dx::metrics

namespace dx::adapters {

class AdapterServer {
 public:
  struct Options {
    std::string listen_address = "127.0.0.1:0";
    std::string cert_chain_pem;   // the adapter's TLS certificate chain
    std::string private_key_pem;  // and key
    // Trust anchors, intermediates and CRLs for the gateway's certificate.
    std::string ca_file;
    std::string intermediates_file;
    std::vector<std::string> crl_files;
    bool require_crl = true;
    int crl_reload_seconds = 5;
    // Gateway node ids allowed to call; empty allows any gateway.
    std::vector<std::string> allowed_gateways;
    // host:port of /metrics and /healthz (docs/OPERATIONS.md); empty: off.
    std::string metrics_address;
    // The TLS certificate's file, for its expiry metric.
    std::string cert_file;
  };
  using Sources = std::map<std::string, std::unique_ptr<DataSource>>;

  static absl::StatusOr<std::unique_ptr<AdapterServer>> Start(Options options,
                                                              Sources sources);
  ~AdapterServer();

  int port() const { return port_; }
  // The metrics port, 0 when metrics are off.
  int metrics_port() const;
  // Stops accepting calls and waits up to `grace_seconds` for those running.
  void Shutdown(int grace_seconds);
  void Wait();

 private:
  class Service;
  AdapterServer() = default;
  // Every crl_reload_seconds, on crl_reloader_'s thread.
  static void ReloadCrls(certs::TrustStore* trust);

  std::unique_ptr<certs::TrustStore> trust_;
  std::unique_ptr<metrics::Metrics> metrics_;  // null: off
  std::unique_ptr<Service> service_;
  std::unique_ptr<metrics::HttpEndpoint> metrics_endpoint_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<Periodic> crl_reloader_;  // null: no CRL files
};

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_SDK_ADAPTER_SERVER_H_
