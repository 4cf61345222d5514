// PolicySnapshot::Evaluation's helpers: the query check every candidate
// rule runs, and the allowing answer (internal/evaluation.h).
#include "policy/internal/evaluation.h"

#include "common/quote.h"

namespace dx::policy {

std::string PolicySnapshot::Evaluation::QueryRefusal(
    const FieldSet& readable, const CompiledGrant* g) const {
  for (const QueryUse& q : query) {
    const int op = static_cast<int>(q.use.op);
    if (g != nullptr && (g->extra_query_ops[q.use.index] >> op) & 1u) {
      continue;  // named in the grant's query_keys
    }
    const std::string& field = ds->field_names[q.field];
    if (!readable.Has(q.field)) {
      return absl::StrCat("query key ", Quote(*q.name), " matches field ",
                          field, ", which ", req.consumer_agency,
                          " may not read");
    }
    if (g != nullptr && q.use.op != registry::QueryOp::kEquals &&
        g->masked.Has(q.field)) {
      return absl::StrCat("query key ", Quote(*q.name), " matches field ",
                          field, " by ", registry::QueryOpName(q.use.op),
                          ", which is served masked: a masked field may be "
                          "matched only by equality (",
                          Quote(registry::QueryKeyName(*q.use.key)), ")");
    }
  }
  return "";
}

void PolicySnapshot::Evaluation::Allow(const FieldSet& readable,
                                       const std::string& rule,
                                       AccessDecision* d) const {
  d->allowed = true;
  d->rule_id = rule;
  d->matched_rule_ids.reserve(1 + forbid_ids.size());
  d->matched_rule_ids.push_back(rule);
  d->matched_rule_ids.insert(d->matched_rule_ids.end(), forbid_ids.begin(),
                             forbid_ids.end());
  d->fields.reserve(all_readable ? ds->field_names.size()
                                 : requested_order.size());
  if (all_readable) {
    for (size_t i = 0; i < ds->field_names.size(); ++i)
      if (readable.Has(i)) d->fields.push_back(ds->field_names[i]);
  } else {
    for (uint32_t i : requested_order) d->fields.push_back(ds->field_names[i]);
  }
  d->adapter_fields = d->fields;
  d->message.clear();
}

}  // namespace dx::policy
