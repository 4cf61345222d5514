// The node's status from its sources, its certificates' expiries from the
// configuration, and a backup's record.
#include "gateway/node_status.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "audit/testing/fake_admin_recorder.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"

namespace dx::gateway {
namespace {

using testing::DevPkiDir;

std::string Pki(const std::string& path) { return DevPkiDir() + "/" + path; }

class TwoMembers final : public BackendsRuntime {
 public:
  absl::Status Health() const override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<v1::ClusterNode>> Members() const override {
    v1::ClusterNode a, b;
    a.set_node_id("gw1");
    b.set_node_id("gw2");
    return std::vector<v1::ClusterNode>{a, b};
  }
};

class OneAlarm final : public ClusterAuditTrail {
 public:
  audit::CheckpointSource* checkpoints() override { return nullptr; }
  absl::StatusOr<std::vector<v1::ClusterNode>> KnownNodes() const override {
    v1::ClusterNode n;
    n.set_node_id("gw3");
    return std::vector<v1::ClusterNode>{n};
  }
  absl::StatusOr<std::vector<v1::CheckpointAlarm>> Alarms() const override {
    return std::vector<v1::CheckpointAlarm>(1);
  }
  void Start(const std::string&) override {}
  void Resign() override {}
  void PublishLast() override {}
};

NodeStatusSources Sources(const BackendsRuntime* runtime) {
  NodeStatusSources s;
  s.node_id = "gw1";
  s.started = absl::FromUnixSeconds(1764000000);
  s.state = "etcd";
  s.not_serving = [] {
    return absl::UnavailableError("policy head not in force");
  };
  s.policy_revision = [] { return uint64_t{4}; };
  s.registry_revision = [] { return uint64_t{9}; };
  s.audit_records = [] { return uint64_t{120}; };
  s.tree_head = []() -> absl::StatusOr<v1::SignedTreeHead> {
    v1::SignedTreeHead h;
    h.set_tree_size(118);
    h.set_timestamp_ms(1764000001000);
    return h;
  };
  s.runtime = runtime;
  s.expiries = [] {
    return std::vector<certs::Expiry>{{"gateway TLS", "urn:dx:gateway:gw1",
                                       absl::FromUnixSeconds(1800000000)}};
  };
  return s;
}

TEST(NodeStatusTest, SaysWhatEachSourceSays) {
  TwoMembers runtime;
  OneAlarm trail;
  NodeStatusSources s = Sources(&runtime);
  s.trail = &trail;
  v1::NodeStatus out = NodeStatusOf(s);
  EXPECT_EQ(out.node_id(), "gw1");
  EXPECT_FALSE(out.serving());
  EXPECT_EQ(out.not_serving_reason(), "policy head not in force");
  EXPECT_EQ(out.policy_revision(), 4u);
  EXPECT_EQ(out.registry_revision(), 9u);
  EXPECT_EQ(out.state(), "etcd");
  EXPECT_EQ(out.audit_records(), 120u);
  EXPECT_EQ(out.started_unix_micros(), int64_t{1764000000} * 1000000);
  EXPECT_EQ(out.members_size(), 2);
  ASSERT_EQ(out.known_nodes_size(), 1);
  EXPECT_EQ(out.known_nodes(0).node_id(), "gw3");
  EXPECT_EQ(out.audit_alarms_size(), 1);
  EXPECT_EQ(out.tree_head_size(), 118u);
  EXPECT_EQ(out.tree_head_unix_millis(), 1764000001000);
  ASSERT_EQ(out.expiries_size(), 1);
  EXPECT_EQ(out.expiries(0).what(), "gateway TLS");
  EXPECT_EQ(out.expiries(0).not_after_unix(), 1800000000);
}

TEST(NodeStatusTest, ASingleNodeHasNoClusterTrail) {
  TwoMembers runtime;
  NodeStatusSources s = Sources(&runtime);
  s.not_serving = [] { return absl::OkStatus(); };
  v1::NodeStatus out = NodeStatusOf(s);
  EXPECT_TRUE(out.serving());
  EXPECT_EQ(out.known_nodes_size(), 0);
  EXPECT_EQ(out.audit_alarms_size(), 0);
}

TEST(NodeStatusTest, ExpiriesNameEachLeafAndTheAnchorsAndTheCrl) {
  v1::GatewayConfig config;
  config.mutable_tls()->set_cert_file(Pki("gateway/tls.pem"));
  config.mutable_signing()->set_cert_file(Pki("gateway/sign.pem"));
  config.mutable_trust()->set_ca_file(Pki("root-ca.pem"));
  config.mutable_trust()->set_intermediates_file(Pki("intermediate-ca.pem"));
  config.mutable_trust()->add_crl_files(Pki("crl.pem"));
  std::vector<std::string> what;
  for (const certs::Expiry& e : NodeExpiries(config)) what.push_back(e.what);
  EXPECT_EQ(std::count(what.begin(), what.end(), "gateway TLS"), 1);
  EXPECT_EQ(std::count(what.begin(), what.end(), "signing"), 1);
  EXPECT_GE(std::count(what.begin(), what.end(), "trust anchor"), 1);
  EXPECT_GE(std::count(what.begin(), what.end(), "intermediate"), 1);
  EXPECT_EQ(std::count(what.begin(), what.end(), "log signing"), 0);
  EXPECT_GE(what.size(), 5u);  // and the CRL's next update
}

TEST(NodeStatusTest, AFailedBackupIsRecordedAsSuch) {
  audit::FakeAdminRecorder recorder;
  BackupSources src;
  src.node_id = "gw1";
  auto m =
      RecordedBackup(src, "operator:ops1", "relative/not/allowed", &recorder);
  EXPECT_FALSE(m.ok());
  ASSERT_EQ(recorder.records().size(), 1u);
  EXPECT_TRUE(absl::StartsWith(
      recorder.records()[0],
      "operator:ops1 gateway.backup-failed into relative/not/allowed failed"))
      << recorder.records()[0];
}

}  // namespace
}  // namespace dx::gateway
