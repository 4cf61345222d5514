// The stamper against a real authority (`openssl ts -reply`, through
// testing/local_authority.h) and against a hostile or broken one: an
// answer to another request (wrong nonce), a token over other bytes, an
// authority under other roots, one that is gone, a store that fails.
// Nothing is stored unless it verifies; every failure is counted and
// leaves the head waiting (the lag an operator is alerted on).
#include "timestamp/stamper.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <openssl/ts.h>
#include <stdlib.h>

#include <vector>

#include "common/testing/fake_clock.h"
#include "timestamp/rfc3161.h"
#include "timestamp/testing/local_authority.h"

namespace dx::timestamp {
namespace {

using testing::LocalAuthority;

std::string Sha256(absl::string_view data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  return std::string(reinterpret_cast<char*>(d), sizeof(d));
}

// The nonce of a DER TimeStampReq.
uint64_t NonceOf(const std::string& request_der) {
  const unsigned char* p =
      reinterpret_cast<const unsigned char*>(request_der.data());
  TS_REQ* req = d2i_TS_REQ(nullptr, &p, static_cast<long>(request_der.size()));
  uint64_t nonce = 0;
  if (req != nullptr) {
    ASN1_INTEGER_get_uint64(&nonce, TS_REQ_get_nonce(req));
    TS_REQ_free(req);
  }
  return nonce;
}

class StamperTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/dx-stamper-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    other_ = new std::string(*dir_ + "/other");
    ASSERT_TRUE(LocalAuthority::Run("mkdir -p " + *other_));
    ASSERT_TRUE(LocalAuthority::Make(*dir_, "root"));
    ASSERT_TRUE(LocalAuthority::Make(*other_, "other-root"));
  }
  static void TearDownTestSuite() {
    LocalAuthority::Run("rm -rf " + *dir_);
    delete dir_;
    delete other_;
  }

  v1::SignedTreeHead Head(uint64_t size) {
    v1::SignedTreeHead h;
    h.set_tree_size(size);
    h.set_timestamp_ms(static_cast<uint64_t>(absl::ToUnixMillis(clock_.Now())));
    h.set_signature("signature of head " + std::to_string(size));
    return h;
  }

  std::unique_ptr<TreeHeadStamper> Make(
      std::optional<v1::TreeHeadTimestamp> last = std::nullopt) {
    TreeHeadStamper::Options o;
    o.roots_pem = LocalAuthority::Read(*dir_ + "/ca.pem");
    o.interval = absl::Minutes(10);
    o.retry = absl::Minutes(1);
    TreeHeadStamper::Seams s;
    s.latest_head = [this]() -> absl::StatusOr<v1::SignedTreeHead> {
      return head_;
    };
    s.store = [this](const v1::TreeHeadTimestamp& t) {
      if (!store_status_.ok()) return store_status_;
      stored_.push_back(t);
      return absl::OkStatus();
    };
    s.post = [this](absl::string_view q) -> absl::StatusOr<std::string> {
      ++posts_;
      return authority_(std::string(q));
    };
    s.clock = &clock_;
    return std::make_unique<TreeHeadStamper>(o, s, std::move(last));
  }

  static std::string Honest(const std::string& q) {
    return LocalAuthority::Reply(*dir_, q);
  }

  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  v1::SignedTreeHead head_ = Head(0);
  std::function<absl::StatusOr<std::string>(const std::string&)> authority_ =
      Honest;
  absl::Status store_status_;
  std::vector<v1::TreeHeadTimestamp> stored_;
  int posts_ = 0;
  static std::string* dir_;
  static std::string* other_;
};
std::string* StamperTest::dir_ = nullptr;
std::string* StamperTest::other_ = nullptr;

TEST_F(StamperTest, ANewHeadIsStampedOncePerIntervalOverItsSignature) {
  auto stamper = Make();
  ASSERT_TRUE(stamper->Tick().ok());  // an empty log: nothing to stamp
  EXPECT_EQ(posts_, 0);
  head_ = Head(5);
  ASSERT_TRUE(stamper->Tick().ok());
  ASSERT_EQ(stored_.size(), 1u);
  EXPECT_EQ(stored_[0].tree_head().tree_size(), 5u);
  // The token stamps SHA-256(signature): here, and with openssl.
  auto token = VerifyToken(stored_[0].token(), Sha256(head_.signature()),
                           LocalAuthority::Read(*dir_ + "/ca.pem"));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(absl::ToUnixMicros(token->time), stored_[0].time_unix_micros());
  LocalAuthority::Write(*dir_ + "/sig.bin", head_.signature());
  LocalAuthority::Write(*dir_ + "/token.der", stored_[0].token());
  EXPECT_TRUE(LocalAuthority::Run(
      "openssl ts -verify -data " + *dir_ + "/sig.bin -in " + *dir_ +
      "/token.der -token_in -CAfile " + *dir_ + "/ca.pem"));
  EXPECT_EQ(stamper->stats().stamps, 1u);
  EXPECT_FALSE(stamper->stats().waiting_since.has_value());
  // The same head: not again. A new head within the interval: later.
  clock_.Advance(absl::Minutes(20));
  ASSERT_TRUE(stamper->Tick().ok());
  EXPECT_EQ(posts_, 1);
  head_ = Head(9);
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(stamper->Tick().ok());
  EXPECT_EQ(posts_, 2);  // the interval since the last stamp has passed
  head_ = Head(12);
  clock_.Advance(absl::Minutes(9));
  ASSERT_TRUE(stamper->Tick().ok());
  EXPECT_EQ(posts_, 2);
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(stamper->Tick().ok());
  EXPECT_EQ(posts_, 3);
  EXPECT_EQ(stamper->stats().last_tree_size, 12u);
}

TEST_F(StamperTest, TheStoresLastStampIsNotStampedAgain) {
  head_ = Head(7);
  v1::TreeHeadTimestamp last;
  *last.mutable_tree_head() = head_;
  last.set_time_unix_micros(absl::ToUnixMicros(clock_.Now()));
  auto stamper = Make(last);
  ASSERT_TRUE(stamper->Tick().ok());
  EXPECT_EQ(posts_, 0);
  EXPECT_EQ(stamper->stats().last_time, clock_.Now());
  // A new head: not before an interval since that stamp (a restart does
  // not make the node stamp more often).
  head_ = Head(9);
  clock_.Advance(absl::Minutes(9));
  ASSERT_TRUE(stamper->Tick().ok());
  EXPECT_EQ(posts_, 0);
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(stamper->Tick().ok());
  EXPECT_EQ(posts_, 1);
  EXPECT_EQ(stamper->stats().last_tree_size, 9u);
}

TEST_F(StamperTest, AnAnswerToAnotherRequestIsRefusedAndCounted) {
  // A wrong nonce: the authority's honest answer to another request for
  // the same head (a replayed or mixed-up answer).
  authority_ = [](const std::string& q) {
    auto again = MakeRequest(Sha256("signature of head 5"), NonceOf(q) + 1);
    return Honest(again.ok() ? *again : q);
  };
  head_ = Head(5);
  auto stamper = Make();
  absl::Status s = stamper->Tick();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(stored_.empty());
  EXPECT_EQ(stamper->stats().failures, 1u);
  EXPECT_EQ(stamper->stats().waiting_since, clock_.Now());
}

TEST_F(StamperTest, ATokenOverOtherBytesIsRefused) {
  // The right nonce, but the imprint of other bytes.
  authority_ = [](const std::string& q) {
    auto forged = MakeRequest(Sha256("other bytes"), NonceOf(q));
    return Honest(forged.ok() ? *forged : q);
  };
  head_ = Head(5);
  auto stamper = Make();
  EXPECT_EQ(stamper->Tick().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(stored_.empty());
  EXPECT_EQ(stamper->stats().failures, 1u);
}

TEST_F(StamperTest, AnAuthorityUnderOtherRootsOrGarbageIsRefused) {
  authority_ = [](const std::string& q) {
    return LocalAuthority::Reply(*other_, q);
  };
  head_ = Head(5);
  auto stamper = Make();
  EXPECT_FALSE(stamper->Tick().ok());
  clock_.Advance(absl::Minutes(1));
  authority_ = [](const std::string&) { return std::string(100, 'x'); };
  EXPECT_FALSE(stamper->Tick().ok());
  EXPECT_TRUE(stored_.empty());
  EXPECT_EQ(stamper->stats().failures, 2u);
  EXPECT_FALSE(stamper->stats().last_error.empty());
}

TEST_F(StamperTest, AGoneAuthorityIsRetriedLaterAndTheHeadWaits) {
  authority_ = [](const std::string&) -> absl::StatusOr<std::string> {
    return absl::UnavailableError("connection refused");
  };
  head_ = Head(5);
  const absl::Time seen = clock_.Now();
  auto stamper = Make();
  EXPECT_EQ(stamper->Tick().code(), absl::StatusCode::kUnavailable);
  clock_.Advance(absl::Seconds(30));
  EXPECT_TRUE(stamper->Tick().ok());  // not yet retried
  EXPECT_EQ(posts_, 1);
  clock_.Advance(absl::Seconds(30));
  head_ = Head(8);
  EXPECT_FALSE(stamper->Tick().ok());
  EXPECT_EQ(posts_, 2);
  EXPECT_EQ(stamper->stats().waiting_since, seen);  // since the first
  // Back: stamped, and nothing waits.
  authority_ = Honest;
  clock_.Advance(absl::Minutes(1));
  EXPECT_TRUE(stamper->Tick().ok());
  EXPECT_EQ(stored_.size(), 1u);
  EXPECT_FALSE(stamper->stats().waiting_since.has_value());
  EXPECT_EQ(stamper->stats().failures, 2u);
}

TEST_F(StamperTest, AStoreThatFailsStoresNothingAndCounts) {
  store_status_ = absl::UnavailableError("disk full");
  head_ = Head(5);
  auto stamper = Make();
  EXPECT_EQ(stamper->Tick().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(stamper->stats().failures, 1u);
  EXPECT_EQ(stamper->stats().last_tree_size, 0u);
}

}  // namespace
}  // namespace dx::timestamp
