// The etcd implementations of the cluster's seams, against a real etcd
// cluster of three members on loopback: each seam's conformance suite (the
// same the local implementations pass), and what is particular to etcd.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "certs/crypto.h"
#include "cluster/etcd_policy_store.h"
#include "cluster/etcd_quota_store.h"
#include "cluster/etcd_registry_source.h"
#include "cluster/etcd_replay_store.h"
#include "cluster/membership.h"
#include "common/bytes.h"
#include "common/files.h"
#include "etcd/testing/etcd_cluster.h"
#include "policy/policy_store_conformance.h"
#include "policy/quota_store_conformance.h"
#include "registry/registry_source_conformance.h"
#include "replay/replay_store_conformance.h"
#include "tests/testing/dev_pki.h"
#include "tests/testing/fake_clock.h"

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
          auto& writable = dynamic_cast<WritableRegistrySource&>(source);
          v1::RegistryRevision meta;
          meta.set_author("operator:test");
          return writable.Commit(yaml, meta, source.Current()->revision())
              .status();
        },
        /*shared=*/true}),
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
  (*node2)->Subscribe([&](std::shared_ptr<const registry::Registry> r) {
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

}  // namespace
}  // namespace dx::cluster
