// The subscription chain (signing, following, what a consumer detects) and
// the state store on a real RocksDB.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "audit/state_db.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"
#include "gateway/envelope_terms.h"
#include "gateway/subscription_chain.h"
#include "gateway/subscription_state.h"

namespace dx::gateway {
namespace {

using dx::testing::DevPkiDir;

absl::StatusOr<std::unique_ptr<audit::StateDb>> OpenDb(const std::string& dir) {
  audit::StateDb::Options o;
  o.path = dir + "/state";
  return audit::StateDb::Open(o);
}

std::unique_ptr<certs::Signer> GatewaySigner() {
  return *certs::Signer::FromFiles(DevPkiDir() + "/gateway/sign.key",
                                   DevPkiDir() + "/gateway/sign.pem");
}

v1::EventBatch Batch(uint64_t first, int n, const std::string& previous) {
  v1::EventBatch b;
  b.set_subscription_id("s1");
  b.set_first_sequence(first);
  b.set_last_sequence(first + n - 1);
  b.set_previous_batch_sha256(previous);
  b.add_columns("full_name");
  for (int i = 0; i < n; ++i) {
    v1::ChangeEvent* e = b.add_events();
    e->set_sequence(first + i);
    e->set_key(absl::StrCat("k", first + i));
    e->set_kind(v1::CHANGE_KIND_UPDATE);
    e->mutable_values()->add_values("Nguyễn Văn An");
  }
  return b;
}

// Three batches, chained as the gateway chains them.
std::vector<v1::SignedEventBatch> Chain(const certs::Signer& signer) {
  std::vector<v1::SignedEventBatch> out;
  std::string previous;
  uint64_t next = 1;
  for (int n : {2, 1, 3}) {
    auto s = SignBatch(signer, Batch(next, n, previous));
    EXPECT_TRUE(s.ok()) << s.status();
    previous = BatchHash(*s);
    next += n;
    out.push_back(*s);
  }
  return out;
}

TEST(SubscriptionChainTest, ASignedChainIsFollowedAndVerifies) {
  auto signer = GatewaySigner();
  auto chain = Chain(*signer);
  ChainHead head;
  for (const auto& b : chain) {
    auto key = certs::PublicKeyOfDer(b.signer_certificate());
    ASSERT_TRUE(key.ok()) << key.status();
    auto verifier = certs::Verifier::Create(key->get());
    ASSERT_TRUE(verifier.ok());
    EXPECT_TRUE((*verifier)->Verify(b.envelope(), b.signature()));
    auto got = FollowChain(b, &head);
    ASSERT_TRUE(got.ok()) << got.status();
  }
  EXPECT_EQ(head.last_sequence, 6u);
  EXPECT_EQ(head.sha256, BatchHash(chain.back()));
}

TEST(SubscriptionChainTest, AMissingBatchIsDetected) {
  auto chain = Chain(*GatewaySigner());
  ChainHead head;
  ASSERT_TRUE(FollowChain(chain[0], &head).ok());
  auto got = FollowChain(chain[2], &head);  // chain[1] lost
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(got.status().message().find("missing or was rewritten"),
            std::string::npos);
  EXPECT_EQ(head.last_sequence, 2u);  // unchanged by the refused batch
}

TEST(SubscriptionChainTest, ARewrittenBatchBreaksTheLinkAndTheSignature) {
  auto signer = GatewaySigner();
  auto chain = Chain(*signer);
  // A rewrite of batch 1 that keeps its own link and numbers: the
  // signature no longer verifies, and batch 2 no longer chains to it.
  v1::EventBatch b;
  ASSERT_TRUE(b.ParseFromString(chain[0].envelope()));
  b.mutable_events(0)->set_key("forged");
  v1::SignedEventBatch forged = chain[0];
  forged.set_envelope(b.SerializeAsString());
  auto key = certs::PublicKeyOfDer(forged.signer_certificate());
  auto verifier = certs::Verifier::Create(key->get());
  EXPECT_FALSE((*verifier)->Verify(forged.envelope(), forged.signature()));
  ChainHead head;
  ASSERT_TRUE(FollowChain(forged, &head).ok());  // the link alone holds
  EXPECT_FALSE(FollowChain(chain[1], &head).ok());
}

TEST(SubscriptionChainTest, EventsMustBeNumberedOneByOne) {
  auto signer = GatewaySigner();
  v1::EventBatch b = Batch(1, 3, "");
  b.mutable_events(1)->set_sequence(7);
  ChainHead head;
  EXPECT_FALSE(FollowChain(*SignBatch(*signer, b), &head).ok());
  v1::EventBatch gap = Batch(2, 1, "");  // starts after a sequence never seen
  EXPECT_FALSE(FollowChain(*SignBatch(*signer, gap), &head).ok());
}

// What each rpc sees of the terms after a RequestEnvelope's own fields.
v1::RequestEnvelope Parsed(const std::string& terms) {
  v1::RequestEnvelope env;
  env.set_request_id("r1");
  env.set_dataset_id("d");
  v1::RequestEnvelope out;
  EXPECT_TRUE(out.ParseFromString(env.SerializeAsString() + terms));
  return out;
}

// Field `number` as a varint 1, the way a newer client's terms would come.
std::string VarintField(int number) {
  uint32_t tag = static_cast<uint32_t>(number) << 3;  // wire type 0
  std::string out;
  while (tag >= 0x80) {
    out.push_back(static_cast<char>((tag & 0x7f) | 0x80));
    tag >>= 7;
  }
  out.push_back(static_cast<char>(tag));
  out.push_back(1);
  return out;
}

TEST(EnvelopeTermsTest, TermsAreFoundAndRefusedOnAnExchange) {
  EXPECT_FALSE(TermsIn(Parsed("")).subscription);
  EXPECT_FALSE(TermsIn(Parsed("")).ack);
  EXPECT_FALSE(TermsOnExchange(Parsed("")).refused());

  v1::SubscriptionTerms st;
  st.set_start(v1::START_FROM_NOW);
  const v1::RequestEnvelope sub = Parsed(st.SerializeAsString());
  EXPECT_TRUE(TermsIn(sub).subscription);
  EXPECT_FALSE(TermsIn(sub).ack);
  Refusal r = TermsOnExchange(sub);
  EXPECT_EQ(r.code, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.reason, v1::REASON_MALFORMED_REQUEST);
  EXPECT_NE(r.message.find("dx.v1.Subscriptions/Subscribe"), std::string::npos);

  v1::AckTerms at;
  at.set_subscription_id("s");
  const v1::RequestEnvelope ack = Parsed(at.SerializeAsString());
  EXPECT_TRUE(TermsIn(ack).ack);
  EXPECT_FALSE(TermsIn(ack).subscription);
  EXPECT_NE(TermsOnExchange(ack).message.find("dx.v1.Subscriptions/Ack"),
            std::string::npos);

  // Any number in the reserved range counts, including ones not yet used
  // (so an older gateway refuses a newer client's terms); beyond it, not.
  EXPECT_TRUE(TermsIn(Parsed(VarintField(1010))).subscription);
  EXPECT_TRUE(TermsIn(Parsed(VarintField(1020))).ack);
  const TermsCarried beyond = TermsIn(Parsed(VarintField(1021)));
  EXPECT_FALSE(beyond.subscription || beyond.ack);
}

TEST(SubscriptionStatesTest, SavedStateSurvivesAReopen) {
  const std::string dir = dx::testing::MakeTempDir("substate");
  v1::SubscriptionState s;
  s.set_subscription_id("abc");
  s.set_consumer_agency("000.00.00.H30");
  s.set_dataset_id("bca.population");
  s.set_acked_sequence(7);
  s.set_acked_position("42");
  s.set_acked_batch_sha256(std::string(32, '\x01'));
  v1::DeliveredBatch* d = s.add_delivered();
  d->set_first_sequence(8);
  d->set_last_sequence(9);
  d->set_end_position("45");
  {
    auto db = OpenDb(dir);
    ASSERT_TRUE(db.ok()) << db.status();
    RocksDbSubscriptionStates states(db->get());
    auto none = states.Load("abc");
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE(states.Save(s).ok());
  }
  auto db = OpenDb(dir);
  ASSERT_TRUE(db.ok()) << db.status();
  RocksDbSubscriptionStates states(db->get());
  auto got = states.Load("abc");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->SerializeAsString(), s.SerializeAsString());
  EXPECT_FALSE(states.Load("abd")->has_value());
}

// An unsubscribe deletes for good: gone after a reopen too; the others stay.
TEST(SubscriptionStatesTest, ADeletedStateIsGoneAfterAReopen) {
  const std::string dir = dx::testing::MakeTempDir("substate-delete");
  {
    auto db = OpenDb(dir);
    ASSERT_TRUE(db.ok()) << db.status();
    RocksDbSubscriptionStates states(db->get());
    for (const char* id : {"one", "two"}) {
      v1::SubscriptionState s;
      s.set_subscription_id(id);
      ASSERT_TRUE(states.Save(s).ok());
    }
    ASSERT_TRUE(states.Delete("one").ok());
    ASSERT_TRUE(states.Delete("never").ok());  // nothing to delete: fine
  }
  auto db = OpenDb(dir);
  ASSERT_TRUE(db.ok()) << db.status();
  RocksDbSubscriptionStates states(db->get());
  EXPECT_FALSE(states.Load("one")->has_value());
  EXPECT_TRUE(states.Load("two")->has_value());
}

}  // namespace
}  // namespace dx::gateway
