#include "audit/attribution.h"

#include "gtest/gtest.h"

namespace dx::audit {
namespace {

v1::AuditRecord Refusal(bool verified) {
  v1::AuditRecord r;
  r.set_kind(v1::RECORD_KIND_EXCHANGE);
  r.set_consumer_agency("000.00.00.B");
  r.set_decision(v1::DECISION_DENY);
  r.set_identity_verified(verified);
  return r;
}

TEST(AttributionTest, AnUnverifiedRefusalIsOnlyAClaim) {
  EXPECT_EQ(AttributionOf(Refusal(false)), v1::ATTRIBUTION_CLAIMED);
  v1::AuditRecord failed = Refusal(false);
  failed.set_decision(v1::DECISION_ERROR);
  EXPECT_EQ(AttributionOf(failed), v1::ATTRIBUTION_CLAIMED);
  v1::AuditRecord unset = Refusal(false);
  unset.set_decision(v1::DECISION_UNSPECIFIED);
  EXPECT_EQ(AttributionOf(unset), v1::ATTRIBUTION_CLAIMED);
}

TEST(AttributionTest, VerifiedOrServedIsVerified) {
  EXPECT_EQ(AttributionOf(Refusal(true)), v1::ATTRIBUTION_VERIFIED);
  // A served exchange written before identity_verified existed.
  v1::AuditRecord old;
  old.set_decision(v1::DECISION_ALLOW);
  EXPECT_EQ(AttributionOf(old), v1::ATTRIBUTION_VERIFIED);
}

TEST(AttributionTest, StoredRecordsAreAttributedAndUnparsedOnesAreClaims) {
  v1::StoredRecord s;
  *s.mutable_record() = Refusal(false);
  Attribute(&s);
  EXPECT_EQ(s.attribution(), v1::ATTRIBUTION_CLAIMED);
  *s.mutable_record() = Refusal(true);
  Attribute(&s);
  EXPECT_EQ(s.attribution(), v1::ATTRIBUTION_VERIFIED);
  v1::StoredRecord garbage;
  garbage.set_record_bytes("\xff\xff");
  Attribute(&garbage);
  EXPECT_EQ(garbage.attribution(), v1::ATTRIBUTION_CLAIMED);
}

TEST(AttributionTest, AReaderNeverTakesAFieldThatTheRecordDenies) {
  // attribution is outside the leaf hash: a file or proxy saying VERIFIED
  // over an unverified record is not believed.
  v1::StoredRecord forged;
  *forged.mutable_record() = Refusal(false);
  forged.set_attribution(v1::ATTRIBUTION_VERIFIED);
  EXPECT_EQ(EffectiveAttribution(forged), v1::ATTRIBUTION_CLAIMED);
  // An older gateway sets nothing: the rule decides.
  v1::StoredRecord old;
  *old.mutable_record() = Refusal(true);
  EXPECT_EQ(EffectiveAttribution(old), v1::ATTRIBUTION_VERIFIED);
  old.set_attribution(v1::ATTRIBUTION_CLAIMED);
  EXPECT_EQ(EffectiveAttribution(old), v1::ATTRIBUTION_CLAIMED);
  EXPECT_EQ(EffectiveAttribution(v1::StoredRecord()), v1::ATTRIBUTION_CLAIMED);
}

}  // namespace
}  // namespace dx::audit
