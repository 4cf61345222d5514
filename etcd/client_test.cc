// The etcd client against a real three-member etcd cluster on loopback.
#include "etcd/client.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "etcd/testing/etcd_cluster.h"
#include "etcd/watcher.h"

namespace dx::etcd {
namespace {

using testing::EtcdCluster;

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = EtcdCluster::Start(3);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    Client::Options o;
    o.endpoints = cluster_->endpoints();
    o.attempt_timeout = absl::Seconds(2);
    client_ = *Client::Create(o);
    prefix_ = absl::StrCat(
        "/test/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(), "/");
  }
  absl::Status Put(const std::string& key, const std::string& value) {
    etcdserverpb::PutRequest p;
    p.set_key(prefix_ + key);
    p.set_value(value);
    return client_->PutNow(p).status();
  }

  static EtcdCluster* cluster_;
  std::unique_ptr<Client> client_;
  std::string prefix_;
};
EtcdCluster* EtcdClientTest::cluster_ = nullptr;

TEST_F(EtcdClientTest, PutRangeAndAPutIfAbsentTransaction) {
  ASSERT_TRUE(Put("a", "1").ok());
  etcdserverpb::RangeRequest r;
  r.set_key(prefix_);
  r.set_range_end(PrefixEnd(prefix_));
  auto got = client_->RangeNow(r);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->kvs_size(), 1);
  EXPECT_EQ(got->kvs(0).value(), "1");

  // Put-if-absent: the second transaction finds the key and fails.
  auto txn = [&] {
    etcdserverpb::TxnRequest t;
    etcdserverpb::Compare* c = t.add_compare();
    c->set_key(prefix_ + "b");
    c->set_target(etcdserverpb::Compare::VERSION);
    c->set_result(etcdserverpb::Compare::EQUAL);
    c->set_version(0);
    etcdserverpb::PutRequest* put = t.add_success()->mutable_request_put();
    put->set_key(prefix_ + "b");
    put->set_value("x");
    return client_->TxnNow(t);
  };
  auto first = txn();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->succeeded());
  auto second = txn();
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->succeeded());
}

TEST_F(EtcdClientTest, AWatchSeesEveryEventInOrderAcrossAMemberFailure) {
  absl::Mutex mu;
  std::vector<std::string> seen;
  Watcher::Callbacks cb;
  cb.on_events = [&](const etcdserverpb::WatchResponse& r) {
    absl::MutexLock lock(&mu);
    for (const auto& e : r.events()) seen.push_back(e.kv().value());
  };
  Watcher w(client_.get(), prefix_, PrefixEnd(prefix_), 0, cb);
  absl::SleepFor(absl::Milliseconds(300));  // the watch is created
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Put("k", absl::StrCat(i)).ok());
  // The member the client prefers dies; the watch moves on, from where it
  // was, and the writes go on through the others.
  size_t preferred;
  client_->Preferred(&preferred);
  cluster_->Kill(static_cast<int>(preferred));
  for (int i = 5; i < 10; ++i) {
    absl::Status s = Put("k", absl::StrCat(i));
    ASSERT_TRUE(s.ok()) << s;
  }
  auto ten = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return seen.size() >= 10;
  };
  {
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(absl::Condition(&ten), absl::Seconds(20));
    ASSERT_EQ(seen.size(), 10u);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(seen[i], absl::StrCat(i));
  }
  ASSERT_TRUE(cluster_->Restart(static_cast<int>(preferred)).ok());
}

TEST_F(EtcdClientTest, AWatchFromACompactedRevisionSaysSo) {
  ASSERT_TRUE(Put("c", "1").ok());
  ASSERT_TRUE(Put("c", "2").ok());
  etcdserverpb::RangeRequest r;
  r.set_key(prefix_ + "c");
  auto got = client_->RangeNow(r);
  ASSERT_TRUE(got.ok());
  const int64_t rev = got->header().revision();
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(rev);
  compact.set_physical(true);
  grpc::ClientContext ctx;
  etcdserverpb::CompactionResponse cr;
  size_t i;
  ASSERT_TRUE(etcdserverpb::KV::NewStub(client_->Preferred(&i))
                  ->Compact(&ctx, compact, &cr)
                  .ok());
  absl::Notification compacted;
  std::atomic<int64_t> at{0};
  Watcher::Callbacks cb;
  cb.on_compacted = [&](int64_t c) {
    at = c;
    compacted.Notify();
  };
  Watcher w(client_.get(), prefix_ + "c", "", rev - 1, cb);
  ASSERT_TRUE(compacted.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(at.load(), rev);
}

TEST_F(EtcdClientTest, LeasesExpireUnlessKeptAlive) {
  auto lease = client_->GrantLease(absl::Seconds(2));
  ASSERT_TRUE(lease.ok()) << lease.status();
  etcdserverpb::PutRequest p;
  p.set_key(prefix_ + "leased");
  p.set_value("v");
  p.set_lease(*lease);
  ASSERT_TRUE(client_->PutNow(p).ok());
  for (int i = 0; i < 3; ++i) {
    absl::SleepFor(absl::Seconds(1));
    ASSERT_TRUE(client_->KeepAlive(*lease).ok());
  }
  etcdserverpb::RangeRequest r;
  r.set_key(prefix_ + "leased");
  EXPECT_EQ(client_->RangeNow(r)->kvs_size(), 1);  // kept alive past 2 s
  ASSERT_TRUE(client_->RevokeLease(*lease).ok());
  EXPECT_EQ(client_->RangeNow(r)->kvs_size(), 0);
  EXPECT_TRUE(absl::IsNotFound(client_->KeepAlive(*lease)));
}

TEST(EtcdClientNoServerTest, AnUnreachableClusterIsUnavailableNamingIt) {
  Client::Options o;
  o.endpoints = {"127.0.0.1:1", "127.0.0.1:2"};
  o.attempt_timeout = absl::Milliseconds(300);
  auto client = Client::Create(o);
  ASSERT_TRUE(client.ok());
  etcdserverpb::RangeRequest r;
  r.set_key("x");
  auto got = (*client)->RangeNow(r);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(got.status().message().find("etcd"), std::string::npos);
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create({}).status()));
}

}  // namespace
}  // namespace dx::etcd
