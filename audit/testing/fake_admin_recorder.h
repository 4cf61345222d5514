// FakeAdminRecorder: an AdminRecorder for unit tests around the seam. It
// keeps what it was given ("actor action detail" lines, and the refusals),
// or hands each record to a function of the test's (which may fail it).
// Thread-safe.
#ifndef DX_AUDIT_TESTING_FAKE_ADMIN_RECORDER_H_
#define DX_AUDIT_TESTING_FAKE_ADMIN_RECORDER_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "audit/admin_recorder.h"

namespace dx::audit {

class FakeAdminRecorder final : public AdminRecorder {
 public:
  using RecordFn = std::function<absl::Status(const std::string& actor,
                                              const std::string& action,
                                              const std::string& detail)>;
  FakeAdminRecorder() = default;
  explicit FakeAdminRecorder(RecordFn record) : record_(std::move(record)) {}

  absl::Status Record(const std::string& actor, const std::string& action,
                      const std::string& detail) override {
    if (record_) return record_(actor, action, detail);
    absl::MutexLock lock(&mu_);
    records_.push_back(actor + " " + action + " " + detail);
    return absl::OkStatus();
  }
  void RecordRefusal(const AdminRefusal& refusal) override {
    absl::MutexLock lock(&mu_);
    refusals_.push_back(refusal);
  }

  std::vector<std::string> records() const {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  std::vector<AdminRefusal> refusals() const {
    absl::MutexLock lock(&mu_);
    return refusals_;
  }

 private:
  const RecordFn record_;
  mutable absl::Mutex mu_;
  std::vector<std::string> records_ ABSL_GUARDED_BY(mu_);
  std::vector<AdminRefusal> refusals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::audit

#endif  // DX_AUDIT_TESTING_FAKE_ADMIN_RECORDER_H_
