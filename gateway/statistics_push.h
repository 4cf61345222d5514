// StatisticsPush: sends signed statistics reports (audit/statistics_report.h)
// to the national reporting system's HTTPS endpoint, on a thread of its own
// (never the exchange path):
//  - batch: each day's report once the day (UTC+7) is over by
//    after_minutes, and each month's on the next month's first day; done
//    dates are kept in the state database (meta "stats-push/done/<period>/
//    <date>") so that a restart neither repeats nor skips one;
//  - real time (every_seconds > 0): the current day's report so far.
// Each attempt, failed or delivered, is an admin record "statistics.push"
// in the audit log (dxctl audit query --json finds them); failures are
// retried after 1 s, 2 s, 4 s ... up to max_attempts, then the report
// waits for the next round (an hour later for a batch one).
//
// The Post seam is the HTTPS client (libcurl in production). Stop() ends a
// backoff wait at once. Thread-safe.
#ifndef DX_GATEWAY_STATISTICS_PUSH_H_
#define DX_GATEWAY_STATISTICS_PUSH_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/periodic.h"
#include "dx/v1/config.pb.h"
#include "dx/v1/reports.pb.h"

namespace dx::audit {
class AuditReader;
class StateDb;
}  // namespace dx::audit
namespace dx::certs {
class Signer;
}  // namespace dx::certs

namespace dx::gateway {

class AuditAdminRecorder;

class StatisticsPush {
 public:
  // POSTs `json`; OK only for an HTTP 2xx answer. The message says what
  // failed (the HTTP status, or the TLS or connection error).
  using Post = std::function<absl::Status(const std::string& json)>;
  struct Deps {
    v1::StatisticsPushConfig config;
    const audit::AuditReader* reader = nullptr;
    audit::StateDb* db = nullptr;
    const certs::Signer* signer = nullptr;
    AuditAdminRecorder* recorder = nullptr;
    const Clock* clock = SystemClock::Get();
    std::string node_id;
    Post post;
  };
  // Starts the thread (a round every second). Everything in `deps` must
  // outlive it.
  explicit StatisticsPush(Deps deps);
  ~StatisticsPush() { Stop(); }

  void Stop();

  // The HTTPS client for `config` (libcurl): https only, no redirects,
  // the configured CA and client certificate, timeout_seconds per attempt.
  static Post HttpsPost(const v1::StatisticsPushConfig& config);

 private:
  void Round();
  enum class Outcome { kDelivered, kFailed, kNotYet };
  // Builds and pushes one report with retries. kNotYet: the log has no
  // signed tree head yet (a node just started): try again next round.
  Outcome Push(v1::ReportPeriod period, const std::string& date);
  bool Done(const std::string& key) const;
  void MarkDone(const std::string& key);

  const Deps deps_;
  absl::Notification stopping_;
  absl::Time next_realtime_ = absl::InfinitePast();
  absl::Time next_batch_try_ = absl::InfinitePast();
  std::unique_ptr<Periodic> thread_;  // last: starts after the rest
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_STATISTICS_PUSH_H_
