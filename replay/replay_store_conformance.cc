#include "replay/replay_store_conformance.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "certs/crypto.h"
#include "common/bytes.h"

namespace dx::replay {

void ReplayStoreConformance::SetUp() {
  store_ = GetParam().make();
  prefix_ = HexEncode(certs::RandomBytes(4));
}

ReplayKey ReplayStoreConformance::KeyOf(const std::string& who,
                                        const std::string& id,
                                        const std::string& nonce) const {
  return {absl::StrCat(prefix_, ".", who), id, nonce,
          GetParam().now() + absl::Minutes(2)};
}

absl::StatusOr<bool> ReplayStoreConformance::Check(ReplayStore& store,
                                                   const ReplayKey& key) {
  absl::Notification done;
  absl::StatusOr<bool> result;
  store.CheckAndRemember(key, nullptr, [&](absl::StatusOr<bool> r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

// "fresh", "replay", or the error: what failed reads in the test's output.
std::string Verdict(const absl::StatusOr<bool>& r) {
  if (!r.ok()) return r.status().ToString();
  return *r ? "fresh" : "replay";
}

std::string FactoryName(
    const ::testing::TestParamInfo<ReplayStoreFactory>& info) {
  return info.param.name;
}

TEST_P(ReplayStoreConformance, AcceptsOnceThenRefusesEitherKeyPerConsumer) {
  EXPECT_EQ(Verdict(Check(*store_, KeyOf("A", "id1", "nonce-1"))), "fresh");
  EXPECT_EQ(Verdict(Check(*store_, KeyOf("A", "id1", "nonce-2"))), "replay");
  EXPECT_EQ(Verdict(Check(*store_, KeyOf("A", "id2", "nonce-1"))), "replay");
  // Another consumer's ids and nonces are its own.
  EXPECT_EQ(Verdict(Check(*store_, KeyOf("B", "id1", "nonce-1"))), "fresh");
}

TEST_P(ReplayStoreConformance, AnIdAndANonceWithTheSameValueAreDifferentKeys) {
  EXPECT_EQ(Verdict(Check(*store_, KeyOf("A", "x", "y"))), "fresh");
  EXPECT_EQ(Verdict(Check(*store_, KeyOf("A", "y", "x"))), "fresh");
  // ("A", "Bz") and ("AB", "z") must not meet.
  EXPECT_EQ(Verdict(Check(*store_, KeyOf("A", "Bz", "n1"))), "fresh");
  EXPECT_EQ(Verdict(Check(*store_, KeyOf("AB", "z", "n2"))), "fresh");
}

TEST_P(ReplayStoreConformance, ARefusedRequestRemembersNothing) {
  ASSERT_EQ(Verdict(Check(*store_, KeyOf("A", "id1", "nonce-1"))), "fresh");
  // A replayed id with a fresh nonce is refused, and its nonce is not kept.
  EXPECT_EQ(Verdict(Check(*store_, KeyOf("A", "id1", "nonce-2"))), "replay");
  EXPECT_EQ(Verdict(Check(*store_, KeyOf("A", "id2", "nonce-2"))), "fresh");
}

TEST_P(ReplayStoreConformance, ASecondStoreSeesTheFirstWhenTheyShareState) {
  // Two nodes of a cluster: what one remembered, the other refuses. Two
  // in-memory stores are two separate gateways.
  std::unique_ptr<ReplayStore> other = GetParam().make();
  ASSERT_EQ(Verdict(Check(*store_, KeyOf("A", "id1", "nonce-1"))), "fresh");
  EXPECT_EQ(Verdict(Check(*other, KeyOf("A", "id1", "nonce-9"))),
            GetParam().shared ? "replay" : "fresh");
  EXPECT_EQ(Verdict(Check(*other, KeyOf("A", "id7", "nonce-1"))),
            GetParam().shared ? "replay" : "fresh");
  EXPECT_EQ(Verdict(Check(*other, KeyOf("A", "id8", "nonce-8"))), "fresh");
}

TEST_P(ReplayStoreConformance, ConcurrentCallersAcceptEachRequestOnce) {
  constexpr int kRequests = 100;
  std::atomic<int> accepted{0}, answered{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRequests; ++i) {
        // Every thread sends the same requests; each is accepted once.
        absl::StatusOr<bool> r = Check(
            *store_, KeyOf("A", absl::StrCat("id", i), absl::StrCat("n", i)));
        if (!r.ok()) ++failed;
        if (r.ok() && *r) ++accepted;
        ++answered;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answered.load(), 8 * kRequests);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(accepted.load(), kRequests);
}

}  // namespace dx::replay
