// The one rule for whether a record's names were proven (attribution.h).
#include "audit/attribution.h"

namespace dx::audit {

v1::Attribution AttributionOf(const v1::AuditRecord& record) {
  if (record.identity_verified() || record.decision() == v1::DECISION_ALLOW) {
    return v1::ATTRIBUTION_VERIFIED;
  }
  return v1::ATTRIBUTION_CLAIMED;
}

void Attribute(v1::StoredRecord* stored) {
  stored->set_attribution(stored->has_record() ? AttributionOf(stored->record())
                                               : v1::ATTRIBUTION_CLAIMED);
}

v1::Attribution EffectiveAttribution(const v1::StoredRecord& stored) {
  // The field is not covered by the leaf hash (a file or a proxy could set
  // it): the record decides, and the field can only make it stricter.
  if (!stored.has_record() || stored.attribution() == v1::ATTRIBUTION_CLAIMED) {
    return v1::ATTRIBUTION_CLAIMED;
  }
  return AttributionOf(stored.record());
}

}  // namespace dx::audit
