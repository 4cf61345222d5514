// NodeComponents from a real configuration (dev PKI, local backends in a
// temporary folder): every part is built, and Close() takes them down in
// the reverse order, with the cluster trail's two steps where the header
// says (resign first; the log's last tree head published once the log
// closed; the backends' runtime, which the trail uses, after the trail).
#include "gateway/node_components.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "audit/audit_reader.h"
#include "audit/rocksdb_audit_log.h"
#include "audit/serving_log.h"
#include "authz/call_gate.h"
#include "certs/testing/dev_pki.h"
#include "common/files.h"
#include "common/testing/temp_dir.h"
#include "gateway/admin_recorder.h"
#include "gateway/config.h"
#include "gateway/config_reloader.h"
#include "gateway/exchange_service.h"
#include "gateway/housekeeping.h"
#include "gateway/node_reloads.h"
#include "gateway/readiness.h"
#include "policy/policy_sync.h"

namespace dx::gateway {
namespace {

using testing::DevPkiDir;

std::string Pki(const std::string& path) { return DevPkiDir() + "/" + path; }

// What happened, in order.
class Events {
 public:
  void Add(const std::string& e) {
    absl::MutexLock lock(&mu_);
    events_.push_back(e);
  }
  std::vector<std::string> Get() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> events_;
};

class ObservedTrail final : public ClusterAuditTrail {
 public:
  ObservedTrail(Events* events, const Deps& deps)
      : events_(events), deps_(deps) {}
  ~ObservedTrail() override { events_->Add("trail gone"); }
  audit::CheckpointSource* checkpoints() override { return nullptr; }
  absl::StatusOr<std::vector<v1::ClusterNode>> KnownNodes() const override {
    return std::vector<v1::ClusterNode>{};
  }
  absl::StatusOr<std::vector<v1::CheckpointAlarm>> Alarms() const override {
    return std::vector<v1::CheckpointAlarm>{};
  }
  void Start(const std::string&) override {}
  void Resign() override { events_->Add("resign"); }
  void PublishLast() override {
    // The log is closed: its last tree head covers every record.
    auto head = deps_.reader->TreeHead(0);
    events_->Add(absl::StrCat("publish last head of ",
                              head.ok() ? head->tree_size() : 0));
  }

 private:
  Events* const events_;
  const Deps deps_;
};

class ObservedRuntime final : public BackendsRuntime {
 public:
  ObservedRuntime(std::unique_ptr<BackendsRuntime> inner, Events* events)
      : inner_(std::move(inner)), events_(events) {}
  ~ObservedRuntime() override { events_->Add("runtime gone"); }
  absl::Status Health() const override { return inner_->Health(); }
  absl::StatusOr<std::vector<v1::ClusterNode>> Members() const override {
    return inner_->Members();
  }
  std::unique_ptr<ClusterAuditTrail> MakeAuditTrail(
      const ClusterAuditTrail::Deps& deps) override {
    return std::make_unique<ObservedTrail>(events_, deps);
  }

 private:
  const std::unique_ptr<BackendsRuntime> inner_;
  Events* const events_;
};

class NodeComponentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("node-components");
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/registry.yaml", R"(
agencies:
  - {code: 000.00.00.G01}
  - code: 000.00.00.H30
    systems: [{id: hotich}]
datasets:
  - id: bca.population
    provider_agency: 000.00.00.G01
    category: shared
    adapter: {address: "127.0.0.1:1", tls_server_name: localhost}
    fields: [{name: citizen_id, tags: [personal]}]
)")
                    .ok());
    WriteConfig(Pki("gateway/sign.key"));
  }
  void WriteConfig(const std::string& signing_key) {
    ASSERT_TRUE(
        WriteFileAtomically(
            dir_ + "/gateway.yaml",
            absl::StrCat("node_id: gw1\nlisten_address: 127.0.0.1:0\n",
                         "data_dir: data\nregistry_file: registry.yaml\n",
                         "tls: {cert_file: ", Pki("gateway/tls.pem"),
                         ", key_file: ", Pki("gateway/tls.key"), "}\n",
                         "signing: {cert_file: ", Pki("gateway/sign.pem"),
                         ", key_file: ", signing_key, "}\n",
                         "trust:\n  ca_file: ", Pki("root-ca.pem"),
                         "\n  intermediates_file: ", Pki("intermediate-ca.pem"),
                         "\n  crl_files: [", Pki("crl.pem"), "]\n"))
            .ok());
    auto config = LoadGatewayConfig(dir_ + "/gateway.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
  }
  NodeComponents::Options Observed() {
    NodeComponents::Options o;
    o.make_backends = [this](const v1::GatewayConfig& c,
                             const audit::AuditReader& reader,
                             const Clock* clock) -> absl::StatusOr<Backends> {
      auto b = MakeLocalBackends(c, reader, clock);
      if (!b.ok()) return b.status();
      b->runtime =
          std::make_unique<ObservedRuntime>(std::move(b->runtime), &events_);
      return b;
    };
    return o;
  }

  std::string dir_;
  v1::GatewayConfig config_;
  Events events_;
};

TEST_F(NodeComponentsTest, EveryPartIsBuilt) {
  auto c = NodeComponents::Build(config_, Observed());
  ASSERT_TRUE(c.ok()) << c.status();
  NodeComponents& n = **c;
  EXPECT_NE(n.trust, nullptr);
  EXPECT_NE(n.signer, nullptr);
  EXPECT_EQ(n.log_signer, n.signer.get());  // no separate log key
  EXPECT_EQ(n.subject_key.size(), 32u);
  EXPECT_NE(n.state_db, nullptr);
  EXPECT_NE(n.audit_log, nullptr);
  EXPECT_NE(n.recorder, nullptr);
  EXPECT_NE(n.pruner, nullptr);
  EXPECT_NE(n.backends.runtime, nullptr);
  EXPECT_NE(n.trail, nullptr);
  EXPECT_NE(n.checker, nullptr);
  EXPECT_NE(n.sync, nullptr);
  EXPECT_NE(n.policy_admin, nullptr);
  EXPECT_NE(n.registry_admin, nullptr);
  EXPECT_NE(n.adapters, nullptr);
  EXPECT_NE(n.readiness, nullptr);
  EXPECT_EQ(n.metrics, nullptr);  // metrics are off in this config
  EXPECT_NE(n.exchange, nullptr);
  EXPECT_NE(n.gate, nullptr);
  EXPECT_NE(n.reloads, nullptr);
  EXPECT_EQ(n.Status().node_id(), "gw1");
  EXPECT_EQ(n.Status().state(), "local");
}

TEST_F(NodeComponentsTest,
       CloseResignsFirstPublishesTheClosedLogsHeadAndDropsTheRuntimeLast) {
  auto c = NodeComponents::Build(config_, Observed());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->recorder->RecordForNode("test.one", "1").ok());
  ASSERT_TRUE((*c)->recorder->RecordForNode("test.two", "2").ok());
  const uint64_t records = (*c)->audit_log->next_sequence();
  EXPECT_EQ((*c)->Close(), records);
  EXPECT_EQ(events_.Get(),
            (std::vector<std::string>{
                "resign", absl::StrCat("publish last head of ", records),
                "trail gone", "runtime gone"}));
  EXPECT_EQ((*c)->audit_log, nullptr);
  EXPECT_EQ((*c)->state_db, nullptr);
  EXPECT_EQ((*c)->backends.runtime, nullptr);
  c->reset();  // closing twice does nothing more
  EXPECT_EQ(events_.Get().size(), 4u);
}

TEST_F(NodeComponentsTest, AFailedBuildLeavesNothingOpen) {
  // The registry is read after the audit log opened: that failure must
  // close what was built before it.
  const std::string registry = *ReadFile(dir_ + "/registry.yaml");
  ASSERT_TRUE(
      WriteFileAtomically(dir_ + "/registry.yaml", "agencies: [[[").ok());
  auto failed = NodeComponents::Build(config_, Observed());
  EXPECT_FALSE(failed.ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/registry.yaml", registry).ok());
  // Else the data folder's databases would still be locked.
  auto c = NodeComponents::Build(config_, Observed());
  ASSERT_TRUE(c.ok()) << c.status();
  auto again = NodeComponents::Build(config_, Observed());
  EXPECT_FALSE(again.ok()) << "two nodes on one data folder";
}

// The housekeeping runs its duties on the node's parts: its watch takes a
// changed file (once it held for a look) and hands it to the reloader.
TEST_F(NodeComponentsTest, HousekeepingsWatchHandsAChangedFileToTheReloader) {
  auto c = NodeComponents::Build(config_, Observed());
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string watched = dir_ + "/watched.pem";
  ASSERT_TRUE(WriteFileAtomically(watched, "one").ok());
  absl::Notification applied;
  ConfigReloader::Reloadable r;
  r.name = "watched";
  r.files = {watched};
  r.apply = [&](const std::string& trigger) -> absl::StatusOr<std::string> {
    EXPECT_EQ(trigger, "a change to " + watched);
    if (!applied.HasBeenNotified()) applied.Notify();
    return std::string("ok");
  };
  ConfigReloader reloader({r}, (*c)->recorder.get(), "gateway:gw1");
  Housekeeping housekeeping(c->get(), &reloader);
  EXPECT_EQ(
      housekeeping.duties(),
      (std::vector<std::string>{"dx-readiness", "dx-watch", "dx-crl",
                                "dx-overload", "dx-refusals", "dx-serving"}));
  ASSERT_TRUE(WriteFileAtomically(watched, "two").ok());
  EXPECT_TRUE(applied.WaitForNotificationWithTimeout(absl::Seconds(60)));
  // The serving duty notes the node's state at once (statistics reports'
  // availability): a heartbeat of this minute is in the state database.
  absl::StatusOr<int64_t> first = -1;
  for (int i = 0; i < 600 && first.ok() && *first < 0; ++i) {
    first = audit::ServingLog::FirstMinute((*c)->state_db.get());
    if (first.ok() && *first < 0) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GE(*first, 0) << "no heartbeat in a minute";
  housekeeping.Stop();
}

}  // namespace
}  // namespace dx::gateway
