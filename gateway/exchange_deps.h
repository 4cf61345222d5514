// ExchangeDeps: everything the exchange pipeline uses, each through its
// seam. Owned by the GatewayServer (or a test), outliving every call.
#ifndef DX_GATEWAY_EXCHANGE_DEPS_H_
#define DX_GATEWAY_EXCHANGE_DEPS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/time/time.h"
#include "audit/audit_log.h"
#include "certs/crypto.h"
#include "common/clock.h"
#include "gateway/adapter_pool.h"
#include "gateway/exchange_observer.h"
#include "gateway/federation_trust.h"
#include "gateway/refusal.h"
#include "gateway/request_checker.h"
#include "policy/decision.h"
#include "replay/replay_store.h"

namespace dx::gateway {

class PeerPool;

struct ExchangeDeps {
  const RequestChecker* checker = nullptr;
  replay::ReplayStore* replay = nullptr;
  // Decides with the registry and policy in force, and charges quotas.
  const policy::Authorizer* authorizer = nullptr;
  audit::AuditLog* audit = nullptr;
  const certs::Signer* signer = nullptr;
  AdapterPool* adapters = nullptr;
  // A federated platform (docs/FEDERATION.md#routing-through-peers): the
  // trust its anchors give, and the channels to peer platforms' gateways.
  // Both null: no federation (no request is forwarded or taken from a
  // peer).
  const FederationTrust* federation = nullptr;
  PeerPool* peers = nullptr;
  const Clock* clock = nullptr;
  // Whether the gateway may serve at all (the audit log can record, the
  // policy is known to be current): a refusal when not, checked before
  // any work. Null: always ready.
  std::function<Refusal()> readiness;
  std::string node_id;
  // The key of the keyed hash of data-subject ids (and of hash masks).
  std::string subject_hmac_key;
  absl::Duration adapter_timeout = absl::Seconds(5);
  uint32_t max_records_unary = 10000;
  uint32_t stream_batch_rows = 4096;
  // The largest message the gateway sends a consumer (max_response_bytes):
  // adapters are asked for no more, and an answer that would not fit is
  // refused before its record is written.
  uint64_t max_answer_bytes = 64 << 20;
  // The largest request the gateway accepts (max_request_bytes; 0: no
  // check). gRPC's own limit is set above it (kRequestSizeHeadroom), so
  // that a request a little over reaches the admission and is refused with
  // an ErrorDetail and an audit record, not by the transport unexplained.
  uint64_t max_request_bytes = 0;
  // Told of every exchange's outcome and stage timings; null: none.
  ExchangeObserver* observer = nullptr;
  // Exchanges in flight at most (0: no cap). Beyond it calls are refused
  // at once with RESOURCE_EXHAUSTED, before any work, so that memory and
  // the audit writer's queue stay bounded under a flood.
  uint32_t max_in_flight = 4096;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_EXCHANGE_DEPS_H_
