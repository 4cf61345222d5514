// The node's witness (docs/FEDERATION.md, "Witnessed logs"): the
// c2sp.org/tlog-witness add-checkpoint endpoint, served over HTTPS on a
// port of its own (witness.listen_address) with the node's TLS pair, on
// the edge HTTP server the console uses (http/server.h: bounded headers,
// bodies, connections and time). Its state is in the node's state
// database, saved before each cosignature leaves. A refusal that only a
// misbehaving log explains is audited (RECORD_KIND_WITNESS_REFUSAL, both
// checkpoints kept as evidence) before it is answered, and counted for the
// alert DxWitnessedLogInconsistent.
//
// Read at start only: a change of witness configuration, and of the TLS
// pair, takes a restart. Thread-safe; the handler runs on the server's
// workers.
#ifndef DX_GATEWAY_WITNESS_PORT_H_
#define DX_GATEWAY_WITNESS_PORT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "dx/v1/config.pb.h"
#include "http/server.h"

namespace dx::audit {
class AuditLog;
}  // namespace dx::audit
namespace dx::metrics {
class Metrics;
}
namespace dx::witness {
class Witness;
class WitnessStore;
}  // namespace dx::witness

namespace dx::gateway {

// The witness of `config` over `store` (in a node, the state database's;
// dxgate --check-config passes an in-memory one), its keys read and
// checked; messages name the field and file at fault. Null when off.
absl::StatusOr<std::unique_ptr<witness::Witness>> BuildWitness(
    const v1::WitnessConfig& config,
    std::unique_ptr<witness::WitnessStore> store, const Clock* clock);

class WitnessPort {
 public:
  struct Options {
    const v1::WitnessConfig* config = nullptr;
    std::string cert_file, key_file;  // the node's TLS pair
    std::unique_ptr<witness::Witness> witness;
    audit::AuditLog* audit_log = nullptr;  // not owned
    metrics::Metrics* metrics = nullptr;   // not owned; null: metrics off
    // Bounds of the edge server (tests lower the timeout).
    http::Limits limits = DefaultLimits();
  };
  static http::Limits DefaultLimits();
  // The largest request body accepted: a checkpoint with its 63 proof
  // lines and a few cosignatures fits with room to spare.
  static constexpr size_t kMaxBodyBytes = 16 << 10;

  static absl::StatusOr<std::unique_ptr<WitnessPort>> Start(Options options);
  ~WitnessPort();

  int port() const;
  // The HTTP handling alone (for tests without sockets).
  void Handle(const http::Request& request, http::Response& response);

 private:
  struct State;
  explicit WitnessPort(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_WITNESS_PORT_H_
