// The etcd implementations of the cluster's seams, against a real etcd
// cluster of three members on loopback: each seam's conformance suite (the
// same the local implementations pass), and what is particular to etcd.
#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "cluster/checkpoint_log.h"
#include "cluster/checkpointer.h"
#include "cluster/etcd_policy_store.h"
#include "cluster/etcd_quota_store.h"
#include "cluster/etcd_registry_source.h"
#include "cluster/etcd_replay_store.h"
#include "cluster/membership.h"
#include "common/bytes.h"
#include "common/files.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "etcd/testing/etcd_cluster.h"
#include "policy/policy_store_conformance.h"
#include "policy/quota_store_conformance.h"
#include "registry/registry_source_conformance.h"
#include "replay/replay_store_conformance.h"

namespace dx::cluster {

// One etcd cluster for the whole binary, started before the first test.
class EtcdEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto c = etcd::testing::EtcdCluster::Start(3);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster = *std::move(c);
    etcd::Client::Options o;
    o.endpoints = cluster->endpoints();
    o.attempt_timeout = absl::Seconds(2);
    client = *etcd::Client::Create(o);
  }
  void TearDown() override {
    client.reset();
    cluster.reset();
  }
  static inline std::unique_ptr<etcd::testing::EtcdCluster> cluster;
  static inline std::unique_ptr<etcd::Client> client;
};
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new EtcdEnvironment);

etcd::Client* Etcd() { return EtcdEnvironment::client.get(); }
std::string FreshPrefix() {
  return absl::StrCat("/t/", HexEncode(certs::RandomBytes(6)), "/");
}

}  // namespace dx::cluster

// ------------------------------------------------- conformance suites --

namespace dx::policy {
INSTANTIATE_TEST_SUITE_P(
    Etcd, PolicyStoreConformance,
    ::testing::Values(PolicyStoreFactory{
        "Etcd",
        [](const std::string& ns) -> std::unique_ptr<PolicyStore> {
          cluster::EtcdPolicyStore::Options o;
          o.prefix = absl::StrCat("/t/policy/", ns, "/");
          o.confirm_interval = absl::Milliseconds(200);
          return std::make_unique<cluster::EtcdPolicyStore>(
              cluster::Etcd(), SystemClock::Get(), o);
        }}),
    FactoryName);

INSTANTIATE_TEST_SUITE_P(Etcd, QuotaStoreConformance,
                         ::testing::Values(QuotaStoreFactory{
                             "Etcd",
                             []() -> std::unique_ptr<QuotaStore> {
                               return std::make_unique<cluster::EtcdQuotaStore>(
                                   cluster::Etcd(), SystemClock::Get(),
                                   cluster::EtcdQuotaStore::Options{"/t/quota/",
                                                                    0.05});
                             },
                             /*shared=*/true}),
                         QuotaFactoryName);
}  // namespace dx::policy

namespace dx::registry {
// A change is a commit on the revision in force, as dxctl registry apply's.
INSTANTIATE_TEST_SUITE_P(
    Etcd, RegistrySourceConformance,
    ::testing::Values(RegistrySourceFactory{
        "Etcd",
        [](const std::string& ns,
           const std::string& seed) -> std::unique_ptr<RegistrySource> {
          const std::string file =
              testing::MakeTempDir("registry-" + ns) + "/registry.yaml";
          EXPECT_TRUE(WriteFileAtomically(file, seed).ok());
          auto source = cluster::EtcdRegistrySource::Open(
              cluster::Etcd(), absl::StrCat("/t/registry/", ns, "/"), file);
          EXPECT_TRUE(source.ok()) << source.status();
          return source.ok() ? *std::move(source) : nullptr;
        },
        [](RegistrySource& source, const std::string& yaml) -> absl::Status {
          v1::RegistryRevision meta;
          meta.set_author("operator:test");
          return source.Commit(yaml, meta, source.Current()->revision())
              .status();
        },
        /*shared=*/true, /*commits=*/true}),
    RegistryFactoryName);
}  // namespace dx::registry

namespace dx::replay {
INSTANTIATE_TEST_SUITE_P(
    Etcd, ReplayStoreConformance,
    ::testing::Values(ReplayStoreFactory{
        "Etcd",
        []() -> std::unique_ptr<ReplayStore> {
          cluster::EtcdReplayStore::Options o;
          o.prefix = "/t/replay/";
          o.node_id = HexEncode(certs::RandomBytes(3));
          return std::make_unique<cluster::EtcdReplayStore>(
              cluster::Etcd(), SystemClock::Get(), o);
        },
        [] { return absl::Now(); },
        /*shared=*/true}),
    FactoryName);
}  // namespace dx::replay

namespace dx::cluster {
namespace {

absl::StatusOr<bool> CheckNow(replay::ReplayStore& s,
                              const replay::ReplayKey& k) {
  absl::Notification done;
  absl::StatusOr<bool> out;
  s.CheckAndRemember(k, nullptr, [&](absl::StatusOr<bool> r) {
    out = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return out;
}

// --------------------------------------------------------- the replay --

TEST(EtcdReplayStoreTest, OneRequestSentManyTimesToThreeNodesIsServedOnce) {
  std::vector<std::unique_ptr<EtcdReplayStore>> nodes;
  for (int i = 0; i < 3; ++i) {
    EtcdReplayStore::Options o;
    o.prefix = "/t/replay-once/";
    o.node_id = absl::StrCat("gw", i + 1);
    nodes.push_back(
        std::make_unique<EtcdReplayStore>(Etcd(), SystemClock::Get(), o));
  }
  const replay::ReplayKey key{HexEncode(certs::RandomBytes(4)), "req-1",
                              "nonce-0123456789",
                              absl::Now() + absl::Minutes(2)};
  std::atomic<int> fresh{0}, replay{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 17; ++i) {
        auto r = CheckNow(*nodes[(t + i) % 3], key);
        if (!r.ok())
          ++failed;
        else if (*r)
          ++fresh;
        else
          ++replay;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(fresh.load(), 1);
  EXPECT_EQ(replay.load(), 12 * 17 - 1);
}

TEST(EtcdReplayStoreTest, KeysGoWithTheirLeaseOnceTheRequestExpired) {
  EtcdReplayStore::Options o;
  o.prefix = FreshPrefix();
  o.node_id = "gw1";
  EtcdReplayStore store(Etcd(), SystemClock::Get(), o);
  auto fresh = CheckNow(
      store, {"A", "r", "nonce-nonce-nonce", absl::Now() + absl::Minutes(2)});
  ASSERT_TRUE(fresh.ok() && *fresh) << fresh.status();
  etcdserverpb::RangeRequest r;
  r.set_key(o.prefix + "replay/");
  r.set_range_end(etcd::PrefixEnd(o.prefix + "replay/"));
  auto got = Etcd()->RangeNow(r);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->kvs_size(), 2);
  // Both keys are on one shared lease, and no key lives without one.
  EXPECT_NE(got->kvs(0).lease(), 0);
  EXPECT_EQ(got->kvs(0).lease(), got->kvs(1).lease());
}

// --------------------------------------------------------- the quotas --

policy::QuotaTakeResult TakeNow(policy::QuotaStore& s,
                                std::vector<policy::QuotaTake> takes) {
  absl::Notification done;
  policy::QuotaTakeResult out;
  s.Take(std::move(takes), nullptr,
         [&](absl::StatusOr<policy::QuotaTakeResult> r) {
           EXPECT_TRUE(r.ok()) << r.status();
           if (r.ok()) out = *r;
           done.Notify();
         });
  done.WaitForNotification();
  return out;
}

TEST(EtcdQuotaStoreTest, ThreeNodesNeverAdmitMoreThanTheQuota) {
  const std::string prefix = FreshPrefix();
  std::vector<std::unique_ptr<EtcdQuotaStore>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(std::make_unique<EtcdQuotaStore>(
        Etcd(), SystemClock::Get(), EtcdQuotaStore::Options{prefix, 0.05}));
  }
  const policy::QuotaBucket minute{
      "ds/g/000.00.00.H30/rpm", policy::MinuteWindow(absl::Now()) + 1000, 100};
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        if (TakeNow(*nodes[t % 3], {{minute, 1, 1}}).granted) ++admitted;
      }
    });
  }
  for (auto& t : threads) t.join();
  // 240 attempts for 100 tokens: never more than 100 admitted, and at most
  // one chunk (5 tokens) per node held back unspent.
  EXPECT_LE(admitted.load(), 100);
  EXPECT_GE(admitted.load(), 100 - 3 * 5);
}

TEST(EtcdQuotaStoreTest, CountersSurviveARestartOfEveryNode) {
  const std::string prefix = FreshPrefix();
  const policy::QuotaBucket day{"ds/g/000.00.00.H30/rpd",
                                policy::VietnamDayWindow(absl::Now()), 10};
  {
    EtcdQuotaStore node(Etcd(), SystemClock::Get(), {prefix, 0.5});
    ASSERT_TRUE(TakeNow(node, {{day, 4, 4}}).granted);
  }
  // A new process: the 5 tokens its predecessor held unspent are lost with
  // it (under-admission), the 4 it spent stay spent.
  EtcdQuotaStore node(Etcd(), SystemClock::Get(), {prefix, 0.5});
  policy::QuotaTakeResult r = TakeNow(node, {{day, 1, 10}});
  ASSERT_TRUE(r.granted);
  EXPECT_LE(r.taken[0], 10u - 4u);
}

// ----------------------------------------------------- the policy store --

class CountingWatcher final : public policy::PolicyWatcher {
 public:
  void OnCommit(const v1::PolicyCommit& c) override {
    absl::MutexLock lock(&mu_);
    last_ = c.meta().revision();
  }
  void OnReset(uint64_t head) override {
    absl::MutexLock lock(&mu_);
    last_ = head;
    ++resets_;
  }
  void OnCurrent(uint64_t head, absl::Time) override {
    absl::MutexLock lock(&mu_);
    current_ = head;
    ++confirmations_;
  }
  bool WaitConfirmed(uint64_t head) {
    absl::MutexLock lock(&mu_);
    auto ok = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return current_ == head && confirmations_ > 0;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&ok), absl::Seconds(10));
  }

 private:
  absl::Mutex mu_;
  uint64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t current_ ABSL_GUARDED_BY(mu_) = ~uint64_t{0};
  int resets_ ABSL_GUARDED_BY(mu_) = 0;
  int confirmations_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(EtcdPolicyStoreTest, AWatcherIsToldItIsCurrentByAQuorumRead) {
  EtcdPolicyStore::Options o;
  o.prefix = FreshPrefix();
  o.confirm_interval = absl::Milliseconds(100);
  EtcdPolicyStore store(Etcd(), SystemClock::Get(), o);
  CountingWatcher w;
  auto handle = store.Watch(0, &w);
  ASSERT_TRUE(handle.ok());
  EXPECT_TRUE(w.WaitConfirmed(0));
  v1::PolicyRevision meta;
  meta.add_changed("a");
  v1::PolicyDocument doc;
  doc.add_datasets()->set_dataset("a");
  ASSERT_TRUE(store.Commit(meta, doc, false, 0, "").ok());
  EXPECT_TRUE(w.WaitConfirmed(1));
}

// --------------------------------------------------- the registry source --

constexpr char kRegistry[] = R"(
agencies: [{code: 000.00.00.G01}]
datasets:
  - {id: a, provider_agency: 000.00.00.G01, adapter: {address: "h:1"},
     fields: [{name: x}]}
)";

TEST(EtcdRegistrySourceTest, SeededOnceThenChangesReachEveryNode) {
  const std::string prefix = FreshPrefix();
  const std::string file = testing::MakeTempDir("registry") + "/r.yaml";
  ASSERT_TRUE(WriteFileAtomically(file, kRegistry).ok());
  auto node1 = EtcdRegistrySource::Open(Etcd(), prefix, file);
  ASSERT_TRUE(node1.ok()) << node1.status();
  // Another node starts with another file: the store already has one.
  ASSERT_TRUE(WriteFileAtomically(file, "agencies: []\n").ok());
  auto node2 = EtcdRegistrySource::Open(Etcd(), prefix, file);
  ASSERT_TRUE(node2.ok());
  EXPECT_EQ((*node2)->Current()->revision(), 1u);
  EXPECT_NE((*node2)->Current()->FindDataset("a"), nullptr);

  absl::Notification seen;
  std::unique_ptr<WatchHandle> watch =
      (*node2)->Watch([&](std::shared_ptr<const registry::Registry> r) {
        if (r->FindDataset("b") != nullptr) seen.Notify();
      });
  std::string next = std::string(kRegistry) +
                     "  - {id: b, provider_agency: 000.00.00.G01, adapter: "
                     "{address: \"h:2\"}, fields: [{name: y}]}\n";
  v1::RegistryRevision meta;
  meta.set_author("operator:ops1");
  auto rev = (*node1)->Commit(next, meta, 1);
  ASSERT_TRUE(rev.ok()) << rev.status();
  EXPECT_EQ(*rev, 2u);
  EXPECT_TRUE(seen.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ((*node2)->Current()->revision(), 2u);
  // A stale writer is refused.
  EXPECT_TRUE(absl::IsAborted((*node2)->Commit(next, meta, 1).status()));
  auto history = (*node1)->History(0);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].author(), "operator:ops1");
  EXPECT_EQ((*history)[1].author(), "seed");
}

// ----------------------------------------------------------- membership --

TEST(MembershipTest, NodesAreListedWhileAliveAndGoWhenTheyLeave) {
  const std::string prefix = FreshPrefix();
  Membership::Options o;
  o.prefix = prefix;
  o.self.set_node_id("gw1");
  o.self.set_address("127.0.0.1:1");
  auto gw1 = Membership::Join(Etcd(), SystemClock::Get(), o);
  ASSERT_TRUE(gw1.ok()) << gw1.status();
  o.self.set_node_id("gw2");
  auto gw2 = Membership::Join(Etcd(), SystemClock::Get(), o);
  ASSERT_TRUE(gw2.ok());
  EXPECT_EQ((*gw1)->Members()->size(), 2u);
  EXPECT_TRUE((*gw1)->Health().ok());
  gw2->reset();
  EXPECT_EQ((*gw1)->Members()->size(), 1u);
}

// ------------------------------------------------ cluster audit trail --

// A node's log, as far as the checkpointer can see: leaf hashes, tree heads
// signed with that node's dev gateway key, and consistency proofs.
class FakeNodeLog {
 public:
  FakeNodeLog(std::string node, std::string salt)
      : node_(std::move(node)), salt_(std::move(salt)) {
    const std::string dir = node_ == "gw1"
                                ? testing::DevPkiDir() + "/gateway"
                                : testing::DevPkiDir() + "/gateways/" + node_;
    if (!std::ifstream(dir + "/sign.pem")) {
      EXPECT_EQ(testing::RunPkiScript("gateway", testing::DevPkiDir(), node_),
                0);
    }
    signer_ = *certs::Signer::FromFiles(dir + "/sign.key", dir + "/sign.pem");
  }
  void Grow(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      leaves_.push_back(audit::HashLeaf(
          absl::StrCat(node_, salt_, "-record-", leaves_.size())));
    }
  }
  v1::SignedTreeHead Head() const {
    return *audit::SignTreeHead(*signer_, node_, leaves_.size(),
                                absl::ToUnixMillis(absl::Now()),
                                Hash(0, leaves_.size()));
  }
  v1::NodeTreeHead Offer(uint64_t from) const {
    v1::NodeTreeHead out;
    *out.mutable_tree_head() = Head();
    out.set_proof_from_size(from);
    if (from > 0 && from < leaves_.size()) {
      auto source = [this](int level,
                           uint64_t i) -> absl::StatusOr<std::string> {
        return Hash(i << level, (i + 1) << level);
      };
      auto proof = audit::ConsistencyProof(source, from, leaves_.size());
      EXPECT_TRUE(proof.ok());
      if (proof.ok()) {
        for (const std::string& p : *proof) out.add_consistency_proof(p);
      }
    }
    return out;
  }
  const certs::Signer& signer() const { return *signer_; }

 private:
  std::string Hash(uint64_t begin, uint64_t end) const {
    if (end - begin == 1) return leaves_[begin];
    uint64_t k = 1;
    while (k * 2 < end - begin) k *= 2;
    return audit::HashChildren(Hash(begin, begin + k), Hash(begin + k, end));
  }
  const std::string node_;
  const std::string salt_;
  std::unique_ptr<certs::Signer> signer_;
  std::vector<std::string> leaves_;
};

class CheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::DevPkiDir();
    trust_ = *certs::TrustStore::Create(testing::DevTrustStoreOptions());
    log_ = std::make_unique<CheckpointLog>(Etcd(), prefix_);
  }
  std::unique_ptr<Checkpointer> Make(const FakeNodeLog& self,
                                     const std::string& node) {
    Checkpointer::Deps d;
    d.client = Etcd();
    d.log = log_.get();
    d.trust = trust_.get();
    d.signer = &self.signer();
    d.clock = SystemClock::Get();
    d.record = [this, node](const std::string& action, const std::string&) {
      absl::MutexLock lock(&mu_);
      records_.push_back(node + " " + action);
    };
    Checkpointer::Options o;
    o.node_id = node;
    o.every = absl::Hours(1);  // rounds run by the test
    return Checkpointer::Start(std::move(d), o);
  }
  void Publish(const std::string& node, const v1::NodeTreeHead& head) {
    etcdserverpb::PutRequest put;
    put.set_key(log_->keys().Heads() + node);
    put.set_value(head.SerializeAsString());
    ASSERT_TRUE(Etcd()->PutNow(put).ok());
  }
  uint64_t AcceptedSize(const std::string& node) {
    etcdserverpb::RangeRequest r;
    r.set_key(log_->keys().Accepted() + node);
    auto got = Etcd()->RangeNow(r);
    v1::AcceptedNodeHead a;
    if (!got.ok() || got->kvs_size() == 0 ||
        !a.ParseFromString(got->kvs(0).value())) {
      return 0;
    }
    return a.tree_head().tree_size();
  }
  // Checks a proof as an outsider would, with nothing but the proof.
  static void ExpectProofVerifies(const v1::CheckpointProof& p) {
    std::vector<std::string> path(p.path().begin(), p.path().end());
    EXPECT_TRUE(audit::VerifyInclusion(p.leaf_index(),
                                       p.cluster_tree_head().tree_size(),
                                       audit::HashLeaf(p.leaf_bytes()), path,
                                       p.cluster_tree_head().root_hash()));
    auto cert =
        certs::ParseCertificateDer(p.cluster_tree_head().signer_certificate());
    ASSERT_TRUE(cert.ok());
    certs::PkeyPtr key(X509_get_pubkey(cert->get()));
    EXPECT_TRUE(audit::VerifyClusterTreeHead(p.cluster_tree_head(), key.get()));
    // The same key's node tree head signature is no cluster head.
    EXPECT_FALSE(audit::VerifyTreeHead(p.cluster_tree_head(), key.get()));
  }
  std::vector<std::string> Records() {
    absl::MutexLock lock(&mu_);
    return records_;
  }

  const std::string prefix_ = FreshPrefix();
  std::unique_ptr<certs::TrustStore> trust_;
  std::unique_ptr<CheckpointLog> log_;
  absl::Mutex mu_;
  std::vector<std::string> records_ ABSL_GUARDED_BY(mu_);
};

TEST_F(CheckpointerTest, ConsistentHeadsAreCheckpointedAndProven) {
  FakeNodeLog gw1("gw1", "a"), gw2("gw2", "a");
  auto c = Make(gw1, "gw1");
  gw1.Grow(5);
  gw2.Grow(3);
  Publish("gw1", gw1.Offer(0));
  Publish("gw2", gw2.Offer(0));
  ASSERT_TRUE(c->RunOnce().ok());
  EXPECT_TRUE(c->elected());
  EXPECT_EQ(AcceptedSize("gw1"), 5u);
  EXPECT_EQ(AcceptedSize("gw2"), 3u);
  EXPECT_EQ(Records(),
            std::vector<std::string>{"gw1 audit.checkpointer-elected"});

  gw1.Grow(4);
  Publish("gw1", gw1.Offer(5));
  ASSERT_TRUE(c->RunOnce().ok());
  EXPECT_EQ(AcceptedSize("gw1"), 9u);
  // Nothing new: nothing appended.
  ASSERT_TRUE(c->RunOnce().ok());
  auto head = log_->ReadHead();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->head.tree_size(), 3u);

  auto record6 = log_->ProofFor("gw1", 7);  // record 6 is in trees > 6
  ASSERT_TRUE(record6.ok()) << record6.status();
  EXPECT_EQ(record6->leaf().node_tree_head().tree_size(), 9u);
  EXPECT_EQ(record6->leaf_index(), 2u);
  ExpectProofVerifies(*record6);
  auto early = log_->ProofFor("gw1", 5);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->leaf_index(), 0u);
  ExpectProofVerifies(*early);
  auto of2 = log_->ProofFor("gw2", 0);
  ASSERT_TRUE(of2.ok());
  ExpectProofVerifies(*of2);
  // The leaf holds the node's head as it signed it.
  auto cert = certs::ParseCertificatePem(
      testing::ReadOrDie(testing::DevPkiDir() + "/gateway/sign.pem"));
  certs::PkeyPtr key(X509_get_pubkey(cert->get()));
  EXPECT_TRUE(
      audit::VerifyTreeHead(record6->leaf().node_tree_head(), key.get()));
  EXPECT_TRUE(absl::IsNotFound(log_->ProofFor("gw1", 10).status()));
}

TEST_F(CheckpointerTest, ALogResetOrRewrittenIsRefusedAndRaisedOnce) {
  FakeNodeLog gw1("gw1", "a"), gw2("gw2", "a");
  auto c = Make(gw1, "gw1");
  gw2.Grow(6);
  Publish("gw2", gw2.Offer(0));
  ASSERT_TRUE(c->RunOnce().ok());
  ASSERT_EQ(AcceptedSize("gw2"), 6u);

  // gw2's data dir wiped: a new log, grown past the old size, proving
  // consistency with its own (different) past.
  FakeNodeLog wiped("gw2", "b");
  wiped.Grow(10);
  Publish("gw2", wiped.Offer(6));
  ASSERT_TRUE(c->RunOnce().ok());
  EXPECT_EQ(AcceptedSize("gw2"), 6u);  // not accepted as a continuation
  auto alarms = log_->Alarms();
  ASSERT_TRUE(alarms.ok());
  ASSERT_EQ(alarms->size(), 1u);
  EXPECT_EQ((*alarms)[0].node_id(), "gw2");
  EXPECT_NE((*alarms)[0].reason().find("does not extend"), std::string::npos)
      << (*alarms)[0].reason();
  EXPECT_EQ((*alarms)[0].accepted().tree_size(), 6u);
  EXPECT_EQ((*alarms)[0].offered().tree_size(), 10u);
  // Smaller still, and again: raised once, never accepted.
  FakeNodeLog small("gw2", "c");
  small.Grow(2);
  Publish("gw2", small.Offer(6));
  ASSERT_TRUE(c->RunOnce().ok());
  EXPECT_EQ(AcceptedSize("gw2"), 6u);
  auto records = Records();
  EXPECT_EQ(std::count(records.begin(), records.end(),
                       "gw1 audit.node-log-inconsistent"),
            1);
  // The real log, restored and grown, extends what was accepted: cleared.
  gw2.Grow(3);
  Publish("gw2", gw2.Offer(6));
  ASSERT_TRUE(c->RunOnce().ok());
  EXPECT_EQ(AcceptedSize("gw2"), 9u);
  EXPECT_TRUE(log_->Alarms()->empty());
  records = Records();
  EXPECT_EQ(records.back(), "gw1 audit.node-log-alarm-cleared");
}

TEST_F(CheckpointerTest, AHeadSignedByAnotherNodeIsRefused) {
  FakeNodeLog gw1("gw1", "a"), gw3("gw3", "a");
  auto c = Make(gw1, "gw1");
  gw1.Grow(4);
  // gw1's head, published as gw3's.
  v1::NodeTreeHead forged = gw1.Offer(0);
  forged.mutable_tree_head()->set_node_id("gw3");
  Publish("gw3", forged);
  ASSERT_TRUE(c->RunOnce().ok());
  EXPECT_EQ(AcceptedSize("gw3"), 0u);
  auto alarms = log_->Alarms();
  ASSERT_EQ(alarms->size(), 1u);
  EXPECT_NE((*alarms)[0].reason().find("signed by gateway:gw1"),
            std::string::npos)
      << (*alarms)[0].reason();
}

TEST_F(CheckpointerTest, OneIsElectedAnotherTakesOverAndAStaleOneCannotSign) {
  FakeNodeLog gw1("gw1", "a"), gw2("gw2", "a");
  auto c1 = Make(gw1, "gw1");
  auto c2 = Make(gw2, "gw2");
  gw1.Grow(2);
  Publish("gw1", gw1.Offer(0));
  ASSERT_TRUE(c1->RunOnce().ok());
  ASSERT_TRUE(c2->RunOnce().ok());
  EXPECT_TRUE(c1->elected());
  EXPECT_FALSE(c2->elected());

  // The election key lost (as when c1's lease expires while it is frozen):
  // c2 takes over while c1 still believes it leads.
  etcdserverpb::DeleteRangeRequest del;
  del.set_key(log_->keys().Leader());
  ASSERT_TRUE(Etcd()->DeleteRangeNow(del).ok());
  ASSERT_TRUE(c2->RunOnce().ok());
  EXPECT_TRUE(c2->elected());
  gw1.Grow(3);
  Publish("gw1", gw1.Offer(2));
  ASSERT_TRUE(c1->RunOnce().ok());  // fenced: its commit is refused
  EXPECT_FALSE(c1->elected());
  auto head = log_->ReadHead();
  EXPECT_EQ(head->head.tree_size(), 1u);
  ASSERT_TRUE(c2->RunOnce().ok());
  head = log_->ReadHead();
  EXPECT_EQ(head->head.tree_size(), 2u);
  EXPECT_EQ(head->head.node_id(), "gw2");  // signed by the elected one

  // c2 stops (resigns): c1 takes over at its next round.
  c2.reset();
  ASSERT_TRUE(c1->RunOnce().ok());
  EXPECT_TRUE(c1->elected());
  // Every size was signed once: one stored head per size, 1 and 2.
  etcdserverpb::RangeRequest r;
  r.set_key(prefix_ + "audit/log/heads/");
  r.set_range_end(etcd::PrefixEnd(prefix_ + "audit/log/heads/"));
  auto heads = Etcd()->RangeNow(r);
  ASSERT_TRUE(heads.ok());
  EXPECT_EQ(heads->kvs_size(), 2);
}

}  // namespace
}  // namespace dx::cluster
