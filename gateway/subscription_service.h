// SubscriptionService: the Subscriptions gRPC service (subscription.proto)
// on one node. A Subscribe is admitted as an exchange is (the same
// RequestChecker, replay guard and policy, asked about the subscription
// mode), then served on the gRPC thread that took it, for as long as it
// lives: the adapter's change feed is read from the acknowledged position,
// each change filtered, projected and masked as the decision says, and
// each batch recorded in the audit log (durable first), signed, chained to
// the one before and sent. The state (acknowledged point, batches delivered
// since) is saved before a batch leaves, so an ack never names a batch the
// node forgot. Ack moves the acknowledged point to the end of a delivered
// batch. docs/SUBSCRIPTIONS.md has the guarantees.
//
// Threads: one per subscription being served (sync API), capped by
// max_subscriptions; Acks on gRPC's threads. Thread-safe.
#ifndef DX_GATEWAY_SUBSCRIPTION_SERVICE_H_
#define DX_GATEWAY_SUBSCRIPTION_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "dx/v1/subscription.grpc.pb.h"
#include "gateway/exchange_deps.h"
#include "gateway/subscription_chain.h"
#include "gateway/subscription_observer.h"
#include "gateway/subscription_state.h"

namespace dx::policy {
class QuotaStore;
}  // namespace dx::policy

namespace dx::gateway {
namespace internal {
class Admission;
}

class SubscriptionService final : public v1::Subscriptions::Service {
 public:
  struct Options {
    uint32_t max_subscriptions = 64;
    absl::Duration heartbeat = absl::Seconds(10);
    uint32_t max_events_per_batch = 256;
    // Batches delivered and not acknowledged before the feed pauses (the
    // adapter is then held back by gRPC's flow control): what bounds a
    // slow consumer's cost to the node.
    uint32_t max_unacked_batches = 64;
    // A stream is decided again before each batch and at least this often
    // while idle: a revoked grant or certificate ends it within this.
    absl::Duration policy_recheck = absl::Seconds(5);
    // Told of streams, batches, acks and ends (metrics); may be null.
    // Must outlive the service.
    SubscriptionObserver* observer = nullptr;
    // The counters behind the grants' quotas (the exchange's): a batch's
    // events are charged to the deciding grant's daily records quota. Null:
    // events are not counted. Must outlive the service.
    policy::QuotaStore* quotas = nullptr;
    // A subscription no stream served, none acked and none resumed for this
    // long is deleted by ExpireIdle (subscriptions.idle_expiry_days).
    absl::Duration idle_expiry = absl::Hours(24 * 30);
  };
  // What one ExpireIdle did.
  struct ExpirySweep {
    int expired = 0;      // deleted, each after its audit record was durable
    int stamped = 0;      // written before 0.8.0 (no time of activity): now set
    int served = 0;       // served now: kept, and their time of activity set
    absl::Status status;  // the first failure: the sweep stopped there
  };
  // `deps` (the exchange pipeline's) must outlive the service.
  SubscriptionService(const ExchangeDeps& deps,
                      std::unique_ptr<SubscriptionStates> states,
                      Options options);
  ~SubscriptionService() override;

  grpc::Status Subscribe(
      grpc::ServerContext* ctx, const v1::SignedRequest* request,
      grpc::ServerWriter<v1::SubscriptionMessage>* writer) override;
  grpc::Status Ack(grpc::ServerContext* ctx, const v1::SignedRequest* request,
                   v1::AckResponse* response) override;

  // Refuses new subscriptions and ends those being served (their adapter
  // feeds are cancelled), so that a shutdown's drain finishes.
  void StopAccepting();

  // The idle expiry's sweep (the node runs it hourly and at start): each
  // subscription whose last activity is older than options.idle_expiry and
  // that is not served now is deleted, after its audit record
  // (RECORD_KIND_SUBSCRIPTION_CONTROL, ALLOW, "expired: idle since ...")
  // is durable; when the record cannot be written the state stays and the
  // sweep stops. States without a time of activity (older versions) and
  // those served now are stamped with the present instead. Blocking; call
  // it from one thread at a time (a duty's).
  ExpirySweep ExpireIdle();

 private:
  struct Live;
  // The replay guard, then (when `decide`) the policy, after Authenticate.
  Refusal Admit(internal::Admission* a, bool decide);
  // The policy's decision (blocking), reserved records given back; `again`
  // for a stream under way: no quota taken.
  Refusal Decide(internal::Admission* a, bool again);
  // A stream under way: its certificates, then the policy now in force.
  Refusal Recheck(internal::Admission* a, const v1::SignedRequest& request);
  // Charges `events` to the deciding grant's daily records quota, all or
  // none: a refusal when the quota cannot take them all, or its counters
  // cannot be reached (the feed then ends before the batch leaves).
  Refusal ChargeEvents(internal::Admission* a, uint64_t events);
  // Ends a stream that `ended` no longer allows: audited (CONTROL, DENY),
  // a signed SubscriptionEnded sent, and its status returned.
  grpc::Status End(internal::Admission* a,
                   grpc::ServerWriter<v1::SubscriptionMessage>* writer,
                   Live* live, const ChainHead& head, const Refusal& ended,
                   std::string* why);
  Refusal Open(internal::Admission* a, const v1::SubscriptionTerms& terms,
               std::shared_ptr<Live>* live);
  // Where a new subscription starting at `start` begins at the provider,
  // asked of the adapter (ChangesRequest.position_only) so that its resumes
  // never begin later: the present end (from now), the position before the
  // oldest change kept (from the beginning; "" from an adapter that cannot
  // tell), the snapshot's start (FAILED_PRECONDITION when the adapter takes
  // no snapshots). UNAVAILABLE when the adapter gives no position.
  absl::StatusOr<std::string> ProviderStart(internal::Admission* a,
                                            v1::StartFrom start);
  // SubscriptionTerms.unsubscribe: ends the subscription's stream if one is
  // served, records the end, deletes its state.
  grpc::Status Unsubscribe(internal::Admission* a,
                           const v1::SubscriptionTerms& terms,
                           grpc::ServerWriter<v1::SubscriptionMessage>* writer);
  grpc::Status Serve(internal::Admission* a, const v1::SignedRequest& request,
                     grpc::ServerContext* ctx,
                     grpc::ServerWriter<v1::SubscriptionMessage>* writer,
                     Live* live, std::string* why);
  void Close(const std::shared_ptr<Live>& live, internal::Admission* a,
             const std::string& why);
  grpc::Status Refuse(internal::Admission* a, const Refusal& r,
                      v1::Decision decision);
  absl::StatusOr<audit::AppendResult> AppendNow(v1::AuditRecord record);
  // Sets the stored state's time of activity to `now` (and the served
  // stream's copy, `live`, when not null), changing nothing else of what
  // is stored. Nothing stored: nothing done.
  absl::Status StampActive(const std::string& id, absl::Time now, Live* live)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deletes one idle subscription found by the sweep, if it still is idle
  // and not served.
  void ExpireOne(const std::string& id, absl::Time now, ExpirySweep* sweep);

  friend class SubscriptionServiceTestPeer;  // marks one served, in tests

  const ExchangeDeps& deps_;
  const std::unique_ptr<SubscriptionStates> states_;
  const Options options_;
  std::atomic<bool> accepting_{true};

  absl::Mutex mu_;
  // Subscriptions being served, by id; their state is the one in force
  // (an Ack changes it here and in states_).
  absl::flat_hash_map<std::string, std::shared_ptr<Live>> live_
      ABSL_GUARDED_BY(mu_);
  absl::CondVar ended_;  // a subscription's stream ended (left live_)
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_SUBSCRIPTION_SERVICE_H_
