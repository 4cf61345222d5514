// CallGate: the gRPC server interceptor that admits calls to the Audit and
// PolicyAdmin services by the table in authz/roles.h. For each such call
// it verifies the TLS client certificate again (chain, CRL, identity; gRPC
// checks no CRL), looks up the caller's role for the method, and records
// every refusal in the audit log, naming who tried. Handlers then ask
// Caller(ctx) for the principal it established; a refused call answers
// with the refusal whatever its handler does (the interceptor replaces the
// status). Other services (Exchange, health) pass untouched. Refusals are
// recorded within a flood budget (authz/refusal_budget.h) per caller: a
// caller refused faster than that is still refused, and counted. Thread-safe.
#ifndef DX_AUTHZ_CALL_GATE_H_
#define DX_AUTHZ_CALL_GATE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "audit/admin_recorder.h"
#include "authz/refusal_budget.h"
#include "certs/identity.h"
#include "certs/trust_store.h"
#include "common/clock.h"

namespace grpc {
class ServerContextBase;
namespace experimental {
class ServerInterceptorFactoryInterface;
}  // namespace experimental
}  // namespace grpc

namespace dx::authz {

class CallGate {
 public:
  // A refused call, as its audit record names it.
  using RefusedCall = audit::AdminRefusal;
  struct Options {
    // Refusals of one caller recorded one by one in a minute; past that
    // they are counted, and the count recorded (the console's budget).
    int refusals_per_minute = 30;
    // Callers followed at once (memory bound; newcomers past it share one
    // budget).
    size_t max_callers = 10000;
    const Clock* clock = SystemClock::Get();
  };
  // `trust` and `recorder` must outlive the gate.
  CallGate(certs::TrustStore* trust, audit::AdminRecorder* recorder,
           Options options);
  CallGate(certs::TrustStore* trust, audit::AdminRecorder* recorder)
      : CallGate(trust, recorder, Options()) {}

  // Records the counts of refusals over the budget whose minute is over
  // (a housekeeping task), or with `all`, every count (the node stops).
  void RecordRefusalCounts(bool all);

  // For ServerBuilder::experimental().SetInterceptorCreators; the gate must
  // outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory();

  // The caller of a governed call in progress: its principal, or the
  // refusal (UNAUTHENTICATED, PERMISSION_DENIED) the gate decided.
  absl::StatusOr<certs::Principal> Caller(
      const grpc::ServerContextBase* ctx) const;

  // The decision for a certificate (PEM) calling `method`: who it is, or
  // why not. Used by the interceptor, and by the console for its pages.
  absl::StatusOr<certs::Principal> Authorize(absl::string_view peer_pem,
                                             absl::string_view method) const;

  // The web console calls the Audit and PolicyAdmin services in-process
  // for its signed-in people (console/console_server.h). Such a call has
  // no TLS peer; it carries the session id in metadata (kSessionMetadata),
  // and `pem_of_session` gives the certificate the person signed in with
  // (empty: no such session). The gate then decides exactly as for a TLS
  // caller with that certificate: chain, CRL, role table, audit of refusals.
  // A session id on a call that came over the network is ignored.
  static constexpr char kSessionMetadata[] = "dx-console-session";
  void SetConsoleSessions(
      std::function<std::string(absl::string_view session_id)> pem_of_session);

  // How audit records name a caller: "policy-admin:alice", or the peer
  // address when the certificate says nothing usable.
  static std::string ActorOf(const absl::StatusOr<certs::Principal>& who,
                             absl::string_view peer_pem,
                             const std::string& peer_address);

 private:
  class Interceptor;
  class Factory;
  // Called by the interceptor at the start and end of a governed call.
  void Admit(const grpc::ServerContextBase* ctx, const std::string& method,
             const std::string& session_id);
  // The certificate a call speaks with: the TLS peer's, or for an
  // in-process call of the console, its session's.
  std::string CallerPem(const grpc::ServerContextBase& ctx,
                        const std::string& session_id) const;
  void Forget(const grpc::ServerContextBase* ctx);
  // Records `refused` within its caller's budget.
  void RecordWithinBudget(const RefusedCall& refused, const std::string& peer);
  void RecordCount(const RefusalBudget::Count& count);

  certs::TrustStore* const trust_;
  audit::AdminRecorder* const recorder_;
  const Options options_;
  RefusalBudget budget_;
  mutable absl::Mutex mu_;
  std::function<std::string(absl::string_view)> pem_of_session_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<const grpc::ServerContextBase*,
                      absl::StatusOr<certs::Principal>>
      verdicts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::authz

#endif  // DX_AUTHZ_CALL_GATE_H_
