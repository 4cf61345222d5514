// TreeHeadStamper: asks an RFC 3161 authority to time-stamp the audit
// log's signed tree heads, at most once per interval and only when the
// head changed, so that an auditor holds evidence from outside the node of
// when each head (and every record under it) existed. The token is over
// SHA-256 of the head's signature (which covers its size, root and time);
// docs/AUDIT.md, "Time-stamps". Nothing waits on it: Tick() runs on a
// background thread, and an authority that is slow, wrong or gone only
// shows as lag and failures (stats()). Thread-safe: Tick() from one thread,
// stats() from any.
#ifndef DX_TIMESTAMP_STAMPER_H_
#define DX_TIMESTAMP_STAMPER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "dx/v1/audit.pb.h"

namespace dx::timestamp {

class TreeHeadStamper {
 public:
  struct Options {
    // PEM roots the authority's tokens must chain to.
    std::string roots_pem;
    // At most one stamp per interval.
    absl::Duration interval = absl::Minutes(10);
    // After a failure, the next attempt waits min(interval, this).
    absl::Duration retry = absl::Minutes(1);
  };
  // Everything the stamper reaches outside itself; each outlives it.
  struct Seams {
    // The log's latest signed tree head.
    std::function<absl::StatusOr<v1::SignedTreeHead>()> latest_head;
    // Keeps a verified stamp durably.
    std::function<absl::Status(const v1::TreeHeadTimestamp&)> store;
    // Sends a DER TimeStampReq to the authority; returns its DER reply.
    std::function<absl::StatusOr<std::string>(absl::string_view)> post;
    const Clock* clock = nullptr;
  };
  struct Stats {
    uint64_t stamps = 0;    // verified and stored since start
    uint64_t failures = 0;  // attempts that stored nothing, since start
    // The last stored stamp (this run's or, at start, the store's).
    uint64_t last_tree_size = 0;
    std::optional<absl::Time> last_time;  // its genTime
    // Since when a signed tree head has waited for a stamp (none: every
    // head seen is stamped). A head seen first at start counts from its
    // own time.
    std::optional<absl::Time> waiting_since;
    std::string last_error;
  };

  // `last_stored`: the store's newest stamp, if any: its head is not
  // stamped again, and the next stamp waits an interval from its time.
  TreeHeadStamper(Options options, Seams seams,
                  std::optional<v1::TreeHeadTimestamp> last_stored);

  // Stamps the latest head when one is due and new. OK when nothing was
  // due; otherwise the attempt's outcome (also counted in stats()).
  absl::Status Tick();

  Stats stats() const;
  absl::Duration interval() const { return options_.interval; }

 private:
  absl::StatusOr<v1::TreeHeadTimestamp> Stamp(const v1::SignedTreeHead& head);

  const Options options_;
  const Seams seams_;
  absl::Time next_attempt_ = absl::InfinitePast();  // Tick()'s thread only
  mutable absl::Mutex mu_;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::timestamp

#endif  // DX_TIMESTAMP_STAMPER_H_
