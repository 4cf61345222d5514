// QuotaStore: the seam for the counters behind a grant's quotas, shaped
// after Trillian's quota manager: take tokens from buckets, put back what
// was not used. A bucket is one fixed window of one quota (a grant's
// requests in a minute, its records in a calendar day of Vietnam, UTC+7)
// for one consumer. Takes complete through a callback: inline for the
// local store (memory), later for the cluster's (etcd, cluster/).
#ifndef DX_POLICY_QUOTA_STORE_H_
#define DX_POLICY_QUOTA_STORE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/cancellation.h"

namespace dx::policy {

struct QuotaBucket {
  // The quota's name: "<dataset>/<grant>/<consumer>/rpm" or ".../rpd".
  std::string name;
  // Which window: minutes (rpm) or Vietnamese days (rpd) since the epoch.
  int64_t window = 0;
  // Tokens in one window.
  uint64_t capacity = 0;
};

struct QuotaTake {
  QuotaBucket bucket;
  // At least `min` tokens or nothing; as many as are left up to `max`.
  uint64_t min = 1;
  uint64_t max = 1;
};

struct QuotaTakeResult {
  // True when every bucket had its `min`; then `taken` holds what each
  // gave. False: nothing was taken, and `short_bucket` says which lacked.
  bool granted = false;
  std::vector<uint64_t> taken;
  size_t short_bucket = 0;
};

class QuotaStore {
 public:
  using TakeCallback = std::function<void(absl::StatusOr<QuotaTakeResult>)>;
  virtual ~QuotaStore() = default;

  // Takes from every bucket of `takes`, or from none. `done` runs exactly
  // once (inline or on another thread); UNAVAILABLE when the counters
  // cannot be reached, CANCELLED when `cancel` fired first.
  virtual void Take(std::vector<QuotaTake> takes, Cancellation* cancel,
                    TakeCallback done) = 0;
  // Returns unused tokens to `bucket` (ignored once its window is over).
  virtual void PutBack(const QuotaBucket& bucket, uint64_t tokens) = 0;
};

// The windows of the two kinds of quota, and the waits until they renew.
int64_t MinuteWindow(absl::Time t);
int64_t VietnamDayWindow(absl::Time t);
int64_t SecondsToNextMinute(absl::Time t);

// Counters in memory: the embedded single-node default. A restart starts
// them afresh. Thread-safe; completes inline.
class LocalQuotaStore final : public QuotaStore {
 public:
  void Take(std::vector<QuotaTake> takes, Cancellation* cancel,
            TakeCallback done) override;
  void PutBack(const QuotaBucket& bucket, uint64_t tokens) override;

 private:
  struct Counter {
    int64_t window = 0;
    uint64_t used = 0;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Counter> counters_ ABSL_GUARDED_BY(mu_);
};

// Tokens taken from one bucket for one exchange: what was not Use()d goes
// back to the store when the charge is destroyed, however the exchange
// ended. The store must outlive the charge. Thread-compatible.
class QuotaCharge {
 public:
  QuotaCharge(QuotaStore* store, QuotaBucket bucket, uint64_t taken)
      : store_(store), bucket_(std::move(bucket)), taken_(taken) {}
  QuotaCharge(const QuotaCharge&) = delete;
  QuotaCharge& operator=(const QuotaCharge&) = delete;
  ~QuotaCharge();

  uint64_t taken() const { return taken_; }
  // `n` more tokens were spent (capped at what was taken).
  void Use(uint64_t n);

 private:
  QuotaStore* const store_;
  const QuotaBucket bucket_;
  const uint64_t taken_;
  uint64_t used_ = 0;
};

}  // namespace dx::policy

#endif  // DX_POLICY_QUOTA_STORE_H_
