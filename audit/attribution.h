// Attribution: whether an audit record's names were proven or only
// claimed. A refusal before the caller was verified keeps what the request
// claimed (agency, system, purpose, subject) so that an auditor sees who
// tried; every view must show such a record as a claim, never as an action
// of the agency it names. One rule, here, for the gateway's answers and
// dxctl's reading of a data folder.
#ifndef DX_AUDIT_ATTRIBUTION_H_
#define DX_AUDIT_ATTRIBUTION_H_

#include "dx/v1/audit.pb.h"

namespace dx::audit {

// VERIFIED when the gateway proved who the record names
// (identity_verified), or served the exchange (decision ALLOW: records
// written before identity_verified existed read it as false); CLAIMED
// otherwise. Fails closed: anything not proven is a claim.
v1::Attribution AttributionOf(const v1::AuditRecord& record);

// The stored record's attribution from its parsed record (CLAIMED when its
// bytes do not parse: nothing in them was shown to be proven).
void Attribute(v1::StoredRecord* stored);

// The attribution a reader should use: the rule applied to the record
// (the field is not covered by the leaf hash), CLAIMED if the field says so.
v1::Attribution EffectiveAttribution(const v1::StoredRecord& stored);

}  // namespace dx::audit

#endif  // DX_AUDIT_ATTRIBUTION_H_
