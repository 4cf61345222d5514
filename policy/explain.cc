#include "policy/explain.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "policy/row_filter.h"

namespace dx::policy {
namespace {

std::string MaskName(const MaskSpec& m) {
  switch (m.kind) {
    case v1::MASK_KIND_PARTIAL:
      return absl::StrCat(m.field, ":partial(keep_last=", m.keep_last, ")");
    case v1::MASK_KIND_HASH:
      return absl::StrCat(m.field, ":hash");
    default:
      return absl::StrCat(m.field, ":full");
  }
}

}  // namespace

v1::ExplainResponse Explain(const PolicySnapshot& snapshot,
                            const v1::ExplainRequest& r, absl::Time now) {
  AccessRequest req;
  req.consumer_agency = r.consumer_agency();
  req.dataset_id = r.dataset();
  req.purpose_code = r.purpose_code();
  req.operation = r.operation() == v1::OPERATION_UNSPECIFIED
                      ? v1::OPERATION_READ
                      : r.operation();
  req.fields.assign(r.fields().begin(), r.fields().end());
  req.query_keys.assign(r.query_keys().begin(), r.query_keys().end());
  req.has_data_subject_id = r.has_data_subject_id();
  req.consent_reference = r.consent_reference();
  const absl::Time at =
      r.at_unix_micros() != 0 ? absl::FromUnixMicros(r.at_unix_micros()) : now;
  std::vector<std::string> trace;
  AccessDecision d = snapshot.Decide(req, at, &trace);
  v1::ExplainResponse out;
  out.set_allowed(d.allowed);
  *out.mutable_fields() = {d.fields.begin(), d.fields.end()};
  for (const MaskSpec& m : d.masks) out.add_masks(MaskName(m));
  if (d.row_filter) out.set_row_filter(d.row_filter->text());
  out.set_rule_id(d.rule_id);
  *out.mutable_matched_rule_ids() = {d.matched_rule_ids.begin(),
                                     d.matched_rule_ids.end()};
  out.set_revision(snapshot.revision());
  if (!d.allowed) {
    out.set_reason(d.reason);
    out.set_message(d.message);
  }
  out.set_legal_basis(d.legal_basis);
  *out.mutable_trace() = {trace.begin(), trace.end()};
  out.mutable_quota()->set_requests_per_minute(d.quota_requests_per_minute);
  out.mutable_quota()->set_records_per_day(d.quota_records_per_day);
  return out;
}

}  // namespace dx::policy
