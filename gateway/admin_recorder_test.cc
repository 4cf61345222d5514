// AuditAdminRecorder over a log that completes appends when the test says:
// a change waits for its record to be durable, a refusal does not.
#include "gateway/admin_recorder.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace dx::gateway {
namespace {

// Holds each append until Complete().
class HeldLog final : public audit::AuditLog {
 public:
  void Append(v1::AuditRecord record, Callback done) override {
    absl::MutexLock lock(&mu_);
    records_.push_back(std::move(record));
    pending_.push_back(std::move(done));
  }
  absl::Status Health() const override { return absl::OkStatus(); }

  void Complete(absl::Status status) {
    std::vector<Callback> pending;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](std::vector<Callback>* p) { return !p->empty(); }, &pending_));
      pending.swap(pending_);
    }
    for (Callback& done : pending) {
      if (status.ok()) {
        done(audit::AppendResult{7, "hash"});
      } else {
        done(status);
      }
    }
  }
  std::vector<v1::AuditRecord> records() const {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  size_t pending() const {
    absl::MutexLock lock(&mu_);
    return pending_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<v1::AuditRecord> records_ ABSL_GUARDED_BY(mu_);
  std::vector<Callback> pending_ ABSL_GUARDED_BY(mu_);
};

TEST(AuditAdminRecorderTest, RecordWaitsUntilTheRecordIsDurable) {
  HeldLog log;
  AuditAdminRecorder recorder(&log, "gw1");
  absl::Notification returned;
  absl::Status result = absl::UnknownError("not returned");
  std::thread change([&] {
    result = recorder.Record("policy-admin:alice", "policy.apply", "rev 2");
    returned.Notify();
  });
  // The append is made, and Record has not returned while it is pending.
  while (log.pending() == 0) std::this_thread::yield();
  EXPECT_FALSE(returned.HasBeenNotified());
  log.Complete(absl::OkStatus());
  change.join();
  EXPECT_TRUE(result.ok()) << result;
  const std::vector<v1::AuditRecord> records = log.records();
  ASSERT_EQ(records.size(), 1u);
  const v1::AuditRecord& r = records[0];
  EXPECT_EQ(r.kind(), v1::RECORD_KIND_ADMIN);
  EXPECT_EQ(r.tls_agency(), "policy-admin:alice");
  EXPECT_EQ(r.admin_action(), "policy.apply");
  EXPECT_EQ(r.message(), "rev 2");
}

TEST(AuditAdminRecorderTest, AFailedAppendFailsTheRecord) {
  HeldLog log;
  AuditAdminRecorder recorder(&log, "gw1");
  std::thread failer(
      [&] { log.Complete(absl::UnavailableError("disk full")); });
  absl::Status s = recorder.RecordForNode("gateway.start", "x");
  failer.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(log.records()[0].tls_agency(), "gateway:gw1");
}

TEST(AuditAdminRecorderTest, ARefusalIsAppendedWithoutWaiting) {
  HeldLog log;
  AuditAdminRecorder recorder(&log, "gw1");
  audit::AdminRefusal refusal;
  refusal.actor = "auditor:bob";
  refusal.identity_verified = true;
  refusal.cert_sha256 = "abcd";
  refusal.action = "policy.refused";
  refusal.detail = "Apply refused: PERMISSION_DENIED";
  refusal.code = absl::StatusCode::kPermissionDenied;
  // Returns while the append is still pending (nothing completes it yet).
  recorder.RecordRefusal(refusal);
  EXPECT_EQ(log.pending(), 1u);
  const std::vector<v1::AuditRecord> records = log.records();
  ASSERT_EQ(records.size(), 1u);
  const v1::AuditRecord& r = records[0];
  EXPECT_EQ(r.decision(), v1::DECISION_DENY);
  EXPECT_EQ(r.tls_agency(), "auditor:bob");
  EXPECT_TRUE(r.identity_verified());
  EXPECT_EQ(r.tls_cert_sha256(), "abcd");
  EXPECT_EQ(r.admin_action(), "policy.refused");
  EXPECT_EQ(r.status_code(),
            static_cast<int>(absl::StatusCode::kPermissionDenied));
  // A failure later is logged, not thrown at anyone.
  log.Complete(absl::UnavailableError("disk full"));
}

}  // namespace
}  // namespace dx::gateway
