// RegistryAdmin over each kind of registry source, through the one
// RegistrySource interface: a file node refuses apply (dry runs and
// malformed files included) and reloads its file; a source that takes
// commits applies by compare-and-swap and refuses a reload. Every outcome
// is recorded.
#include "gateway/registry_admin.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "audit/testing/fake_admin_recorder.h"
#include "certs/testing/dev_pki.h"
#include "common/files.h"
#include "common/subscribers.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "policy/policy_sync.h"
#include "policy/quota_store.h"
#include "policy/rocksdb_policy_store.h"

namespace dx::gateway {
namespace {

std::string RegistryWith(const std::string& id) {
  return absl::StrCat(
      "agencies: [{code: 000.00.00.G01}]\n"
      "datasets:\n"
      "  - {id: ",
      id,
      ", provider_agency: 000.00.00.G01, adapter: {address: \"h:1\"},\n"
      "     fields: [{name: x}]}\n");
}

// A source that takes commits, as the cluster's does, in memory: the seam
// RegistryAdmin sees, without etcd (cluster_test runs the real one).
class CommittingSource final : public registry::RegistrySource {
 public:
  explicit CommittingSource(std::shared_ptr<const registry::Registry> initial)
      : current_(std::move(initial)) {}
  std::shared_ptr<const registry::Registry> Current() const override {
    absl::MutexLock lock(&mu_);
    return current_;
  }
  std::unique_ptr<WatchHandle> Watch(Listener listener) override {
    return listeners_.Add(std::move(listener));
  }
  std::string Describe() const override { return "etcd"; }
  absl::Status CanCommit() const override { return absl::OkStatus(); }
  absl::StatusOr<uint64_t> Commit(const std::string& yaml,
                                  v1::RegistryRevision meta,
                                  uint64_t expected_revision) override {
    std::shared_ptr<const registry::Registry> next;
    {
      absl::MutexLock lock(&mu_);
      if (current_->revision() != expected_revision) {
        return absl::AbortedError("the registry changed meanwhile");
      }
      auto r =
          registry::Registry::FromYaml(yaml, "commit", expected_revision + 1);
      if (!r.ok()) return r.status();
      next = current_ = *r;
      meta.set_revision(expected_revision + 1);
      history_.insert(history_.begin(), meta);
    }
    listeners_.Notify(next);
    return next->revision();
  }
  absl::StatusOr<std::vector<v1::RegistryRevision>> History(
      size_t) const override {
    absl::MutexLock lock(&mu_);
    return history_;
  }
  absl::StatusOr<std::string> ReloadableFile() const override {
    return absl::FailedPreconditionError("the registry lives in etcd");
  }
  absl::Status Reload(std::shared_ptr<const registry::Registry>) override {
    return ReloadableFile().status();
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const registry::Registry> current_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::RegistryRevision> history_ ABSL_GUARDED_BY(mu_);
  Subscribers<std::shared_ptr<const registry::Registry>> listeners_;
};

struct Recorded {
  std::string actor, action, detail;
};

class RegistryAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("registry-admin");
    file_ = dir_ + "/registry.yaml";
    ASSERT_TRUE(WriteFileAtomically(file_, RegistryWith("a")).ok());
    auto store = policy::RocksDbPolicyStore::Open(dir_ + "/policy");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void Start(std::unique_ptr<registry::RegistrySource> source) {
    source_ = std::move(source);
    auto sync = policy::PolicySync::Start(
        {store_.get(), source_.get(), &quotas_, &clock_}, {});
    ASSERT_TRUE(sync.ok()) << sync.status();
    sync_ = *std::move(sync);
    RegistryAdmin::Deps deps;
    deps.source = source_.get();
    deps.sync = sync_.get();
    deps.clock = &clock_;
    recorder_ = std::make_unique<audit::FakeAdminRecorder>(
        [this](const std::string& actor, const std::string& action,
               const std::string& detail) {
          records_.push_back({actor, action, detail});
          return absl::OkStatus();
        });
    deps.recorder = recorder_.get();
    admin_ = std::make_unique<RegistryAdmin>(std::move(deps));
  }
  void StartOnFile() {
    auto source = registry::FileRegistrySource::Open(file_);
    ASSERT_TRUE(source.ok()) << source.status();
    Start(*std::move(source));
  }
  v1::ApplyRegistryRequest Apply(const std::string& yaml, bool dry_run) {
    v1::ApplyRegistryRequest r;
    r.set_yaml(yaml);
    r.set_dry_run(dry_run);
    return r;
  }

  FakeClock clock_{absl::FromUnixSeconds(1764000000)};
  policy::LocalQuotaStore quotas_;
  std::string dir_, file_;
  std::unique_ptr<policy::RocksDbPolicyStore> store_;
  std::unique_ptr<registry::RegistrySource> source_;
  std::unique_ptr<policy::PolicySync> sync_;
  std::vector<Recorded> records_;
  std::unique_ptr<audit::FakeAdminRecorder> recorder_;
  std::unique_ptr<RegistryAdmin> admin_;
};

TEST_F(RegistryAdminTest, AFileNodeRefusesApplyBeforeLookingAtIt) {
  StartOnFile();
  // A dry run, and YAML that would not even parse: the refusal says where
  // the registry lives, not what is wrong with the YAML.
  for (const bool dry_run : {false, true}) {
    for (const std::string& yaml : {RegistryWith("b"), std::string("[")}) {
      auto r = admin_->Apply("operator:ops1", Apply(yaml, dry_run));
      ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition)
          << r.status();
      EXPECT_TRUE(absl::StrContains(r.status().message(),
                                    "reads its registry from " + file_));
    }
  }
  EXPECT_EQ(sync_->Current()->registry()->FindDataset("b"), nullptr);
  ASSERT_EQ(records_.size(), 4u);
  for (const Recorded& r : records_) {
    EXPECT_EQ(r.action, "registry.refused");
    EXPECT_TRUE(absl::StrContains(r.detail, "FAILED_PRECONDITION")) << r.detail;
  }
  EXPECT_EQ(admin_->History({}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(admin_->Get().source(), "file " + file_);
}

TEST_F(RegistryAdminTest, AFileNodeReloadsItsFile) {
  StartOnFile();
  ASSERT_TRUE(WriteFileAtomically(file_, RegistryWith("b")).ok());
  auto changes = admin_->ReloadFile("operator:ops1", "SIGHUP");
  ASSERT_TRUE(changes.ok()) << changes.status();
  EXPECT_EQ(*changes,
            (std::vector<std::string>{"dataset b added", "dataset a removed"}));
  EXPECT_NE(sync_->Current()->registry()->FindDataset("b"), nullptr);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].action, "registry.reload");
  // A file that does not parse is refused; the registry in force stays.
  ASSERT_TRUE(WriteFileAtomically(file_, "datasets: [").ok());
  EXPECT_FALSE(admin_->ReloadFile("operator:ops1", "SIGHUP").ok());
  EXPECT_NE(sync_->Current()->registry()->FindDataset("b"), nullptr);
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(records_[1].action, "registry.reload-refused");
}

TEST_F(RegistryAdminTest, ASharedSourceCommitsAndRefusesAReload) {
  auto initial = registry::Registry::FromYaml(RegistryWith("a"), "seed", 1);
  ASSERT_TRUE(initial.ok()) << initial.status();
  Start(std::make_unique<CommittingSource>(*initial));
  // A dry run commits nothing.
  auto dry = admin_->Apply("operator:ops1", Apply(RegistryWith("b"), true));
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->revision(), 0u);
  EXPECT_EQ(source_->Current()->revision(), 1u);
  auto applied =
      admin_->Apply("operator:ops1", Apply(RegistryWith("b"), false));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->revision(), 2u);
  EXPECT_NE(sync_->Current()->registry()->FindDataset("b"), nullptr);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].action, "registry.apply");
  auto history = admin_->History({});
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->revisions_size(), 1);
  EXPECT_EQ(history->revisions(0).author(), "operator:ops1");
  EXPECT_EQ(admin_->Get().source(), "etcd");
  // The seed file is not the registry here: a reload is refused, recorded.
  auto reload = admin_->ReloadFile("operator:ops1", "SIGHUP");
  EXPECT_EQ(reload.status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(records_[1].action, "registry.reload-refused");
}

std::string Marked(bool marked) {
  return absl::StrCat(
      "agencies: [{code: 000.00.00.G01}]\n"
      "datasets:\n"
      "  - {id: a, provider_agency: 000.00.00.G01, adapter: {address: "
      "\"h:1\"},\n"
      "     state_secret: ",
      marked ? "true" : "false", ", fields: [{name: x}]}\n");
}

TEST_F(RegistryAdminTest, AMarkIsSetByOneOperatorAndRemovedOnlyByTwo) {
  auto initial = registry::Registry::FromYaml(RegistryWith("a"), "seed", 1);
  ASSERT_TRUE(initial.ok()) << initial.status();
  Start(std::make_unique<CommittingSource>(*initial));
  auto marked = admin_->Apply("operator:ops1", Apply(Marked(true), false));
  ASSERT_TRUE(marked.ok()) << marked.status();
  EXPECT_EQ(marked->revision(), 2u);
  EXPECT_TRUE(marked->pending_id().empty());

  // Removing it is held, not applied, and recorded.
  auto held = admin_->Apply("operator:ops1", Apply(Marked(false), false));
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->revision(), 0u);
  ASSERT_FALSE(held->pending_id().empty());
  EXPECT_EQ(std::vector<std::string>(held->removed_marks().begin(),
                                     held->removed_marks().end()),
            std::vector<std::string>{"dataset a"});
  EXPECT_TRUE(source_->Current()->FindDataset("a")->state_secret());
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(records_[1].action, "registry.pending");
  EXPECT_TRUE(absl::StrContains(records_[1].detail, "dataset a"));
  v1::GetRegistryResponse got = admin_->Get();
  ASSERT_EQ(got.pending_size(), 1);
  EXPECT_EQ(got.pending(0).proposer(), "operator:ops1");

  v1::ApplyRegistryRequest approve;
  approve.set_approves(held->pending_id());
  // Not by the proposer; not with a file of its own; not an unknown id.
  auto self = admin_->Apply("operator:ops1", approve);
  EXPECT_EQ(self.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(self.status().message(), "second"));
  v1::ApplyRegistryRequest with_yaml = approve;
  with_yaml.set_yaml(RegistryWith("a"));
  EXPECT_EQ(admin_->Apply("operator:ops2", with_yaml).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::ApplyRegistryRequest unknown;
  unknown.set_approves("nope");
  EXPECT_EQ(admin_->Apply("operator:ops2", unknown).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(source_->Current()->FindDataset("a")->state_secret());

  auto approved = admin_->Apply("operator:ops2", approve);
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(approved->revision(), 3u);
  EXPECT_FALSE(source_->Current()->FindDataset("a")->state_secret());
  EXPECT_EQ(admin_->Get().pending_size(), 0);
  EXPECT_EQ(records_.back().action, "registry.apply");
  EXPECT_TRUE(absl::StrContains(
      records_.back().detail,
      "removes state_secret marks: dataset a; proposed by operator:ops1"));
  auto history = admin_->History({});
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->revisions(0).author(), "operator:ops1");
  EXPECT_EQ(history->revisions(0).approved_by(), "operator:ops2");
  // Approved once: gone.
  EXPECT_EQ(admin_->Apply("operator:ops3", approve).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegistryAdminTest, AnApprovalOfAChangeOnAnOlderRegistryIsRefused) {
  auto initial = registry::Registry::FromYaml(Marked(true), "seed", 1);
  ASSERT_TRUE(initial.ok()) << initial.status();
  Start(std::make_unique<CommittingSource>(*initial));
  auto held = admin_->Apply("operator:ops1", Apply(Marked(false), false));
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_FALSE(held->pending_id().empty());
  // Meanwhile, another change: the approver would approve blind.
  std::string other = absl::StrCat(Marked(true),
                                   "  - {id: b, provider_agency: "
                                   "000.00.00.G01, adapter: "
                                   "{address: \"h:1\"}, fields: "
                                   "[{name: x}]}\n");
  ASSERT_TRUE(admin_->Apply("operator:ops1", Apply(other, false)).ok());
  v1::ApplyRegistryRequest approve;
  approve.set_approves(held->pending_id());
  EXPECT_EQ(admin_->Apply("operator:ops2", approve).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(source_->Current()->FindDataset("a")->state_secret());
}

TEST_F(RegistryAdminTest, AFileReloadThatRemovesAMarkIsRefused) {
  ASSERT_TRUE(WriteFileAtomically(file_, Marked(true)).ok());
  StartOnFile();
  ASSERT_TRUE(WriteFileAtomically(file_, Marked(false)).ok());
  auto reload = admin_->ReloadFile("operator:ops1", "SIGHUP");
  EXPECT_EQ(reload.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(reload.status().message(),
                                "removes state_secret marks (dataset a)"));
  EXPECT_TRUE(sync_->Current()->registry()->FindDataset("a")->state_secret());
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].action, "registry.reload-refused");
}

}  // namespace
}  // namespace dx::gateway
