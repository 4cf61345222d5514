// PolicySnapshot::Decide: the evaluator (the order of checks is in
// snapshot.h). Allocation-light: field sets are bit sets, rule lookups are
// hash lookups, and the strings of the answer are the only copies made.
#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/quote.h"
#include "policy/internal/compiled.h"
#include "registry/query_keys.h"

namespace dx::policy {
namespace {

// Why the nearest grant did not apply; higher ranks are more specific and
// make the better refusal message.
enum class Miss {
  kNone = 0,
  kNoGrant,
  kPurpose,
  kOperation,
  kFields,
  kQuery,
  kWindow,
  kFiltered,
  kSubject,
  kConsent,
};

struct NearMiss {
  Miss kind = Miss::kNone;
  const CompiledGrant* grant = nullptr;
  std::string detail;
  size_t missing = 0;  // for kFields: how many fields were not granted
  void Offer(Miss k, const CompiledGrant* g, std::string d) {
    if (k <= kind) return;
    kind = k;
    grant = g;
    detail = std::move(d);
  }
};

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

}  // namespace

AccessDecision PolicySnapshot::Decide(const AccessRequest& req, absl::Time now,
                                      std::vector<std::string>* trace) const {
  AccessDecision d;
  d.policy_version = version_;
  d.registry = registry_;
  // 0. The registry: the dataset, the calling system, the fields.
  const CompiledDataset* found = Find(req.dataset_id);
  if (found == nullptr) {
    d.reason = v1::REASON_UNKNOWN_DATASET;
    d.code = absl::StatusCode::kNotFound;
    d.message = absl::StrCat("dataset ", Quote(req.dataset_id),
                             " is not in the registry; check the dataset id");
    return d;
  }
  const CompiledDataset& ds = *found;
  const v1::Dataset& dataset = *ds.dataset;
  d.dataset = &dataset;
  if (req.consumer_system.has_value() &&
      !registry_->HasSystem(req.consumer_agency, *req.consumer_system)) {
    d.reason = v1::REASON_UNKNOWN_CONSUMER;
    d.code = absl::StatusCode::kPermissionDenied;
    d.message = absl::StrCat("system ", Quote(*req.consumer_system),
                             " of agency ", req.consumer_agency,
                             " is not registered with this gateway");
    return d;
  }
  auto note = [&](auto&&... parts) {
    if (trace) trace->push_back(absl::StrCat(parts...));
  };

  // The request's fields as a set (and in the order asked).
  FieldSet requested(ds.field_names.size());
  absl::InlinedVector<uint32_t, 16> requested_order;
  for (const std::string& f : req.fields) {
    auto fi = ds.field_index.find(f);
    if (fi == ds.field_index.end()) {
      d.reason = v1::REASON_UNKNOWN_FIELD;
      d.code = absl::StatusCode::kInvalidArgument;
      d.message = absl::StrCat("field ", Quote(f), " is not in dataset ",
                               dataset.id(), "'s schema");
      return d;
    }
    if (!requested.Has(fi->second)) requested_order.push_back(fi->second);
    requested.Add(fi->second);
  }
  const bool all_readable = req.fields.empty();

  // The query's keys: each declared by the registry, required ones present.
  struct QueryUse {
    const std::string* name;
    registry::QueryKeyUse use;
    uint32_t field;
  };
  absl::InlinedVector<QueryUse, 4> query;
  FieldSet query_fields(ds.field_names.size());
  for (const std::string& name : req.query_keys) {
    auto use = registry::ResolveQueryKey(dataset, name);
    if (!use.has_value()) {
      d.reason = v1::REASON_UNKNOWN_QUERY_KEY;
      d.code = absl::StatusCode::kInvalidArgument;
      d.message = absl::StrCat("unknown query key ", Quote(name), "; ",
                               registry::AcceptedQueryKeysText(dataset));
      return d;
    }
    const uint32_t field = ds.query_key_fields[use->index];
    query.push_back({&name, *use, field});
    query_fields.Add(field);
  }
  for (int k = 0; k < dataset.query_keys_size(); ++k) {
    if (!dataset.query_keys(k).required()) continue;
    if (std::none_of(query.begin(), query.end(),
                     [k](const QueryUse& q) { return q.use.index == k; })) {
      d.reason = v1::REASON_MALFORMED_REQUEST;
      d.code = absl::StatusCode::kInvalidArgument;
      d.message = absl::StrCat(
          "query key ", Quote(registry::QueryKeyName(dataset.query_keys(k))),
          " is required (in any of its forms) by dataset ", dataset.id());
      return d;
    }
  }
  // Whether `readable` (and a grant's masks and extra keys) lets the
  // consumer ask every predicate of the query; else the first one refused,
  // and why.
  auto query_refusal = [&](const FieldSet& readable,
                           const CompiledGrant* g) -> std::string {
    for (const QueryUse& q : query) {
      const int op = static_cast<int>(q.use.op);
      if (g != nullptr && (g->extra_query_ops[q.use.index] >> op) & 1u) {
        continue;  // named in the grant's query_keys
      }
      const std::string& field = ds.field_names[q.field];
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
  };

  // 1. Forbids.
  FieldSet forbidden(ds.field_names.size());
  std::vector<std::string> forbid_ids;
  for (const CompiledForbid& f : ds.forbids) {
    if (!f.consumers.Contains(req.consumer_agency) ||
        !f.purposes.Contains(req.purpose_code)) {
      continue;
    }
    const bool refuses =
        f.whole_dataset || (!all_readable && requested.Intersects(f.fields));
    note("forbid ", f.proto->id(), ": matches",
         refuses ? ", refuses the request" : ", removes its fields");
    if (refuses) {
      d.reason = v1::REASON_POLICY_FORBIDDEN;
      d.rule_id = f.proto->id();
      d.matched_rule_ids = {f.proto->id()};
      d.legal_basis = f.proto->legal_basis().empty()
                          ? dataset.restriction_legal_basis()
                          : f.proto->legal_basis();
      std::string what = "reading dataset " + dataset.id();
      if (!f.whole_dataset) {
        std::vector<std::string> names;
        for (uint32_t i : requested_order)
          if (f.fields.Has(i)) names.push_back(ds.field_names[i]);
        what = absl::StrCat("fields ", absl::StrJoin(names, ", "), " of ",
                            dataset.id());
      }
      d.message = absl::StrCat("forbid rule ", f.proto->id(), " refuses ", what,
                               " to agency ", req.consumer_agency);
      if (!f.proto->reason().empty()) {
        absl::StrAppend(&d.message, ": ", f.proto->reason());
      }
      return d;
    }
    if (!f.whole_dataset && query_fields.Intersects(f.fields)) {
      // Asking about a field is reading it: {ethnicity: X} for names only
      // tells whose ethnicity X is.
      const QueryUse* q = nullptr;
      for (const QueryUse& u : query)
        if (f.fields.Has(u.field) && q == nullptr) q = &u;
      note("forbid ", f.proto->id(), ": matches, refuses the query key ",
           *q->name);
      d.reason = v1::REASON_QUERY_NOT_ALLOWED;
      d.rule_id = f.proto->id();
      d.matched_rule_ids = {f.proto->id()};
      d.legal_basis = f.proto->legal_basis().empty()
                          ? dataset.restriction_legal_basis()
                          : f.proto->legal_basis();
      d.message = absl::StrCat(
          "forbid rule ", f.proto->id(), " refuses querying by field ",
          ds.field_names[q->field], " of ", dataset.id(), " (query key ",
          Quote(*q->name), ") to agency ", req.consumer_agency);
      if (!f.proto->reason().empty()) {
        absl::StrAppend(&d.message, ": ", f.proto->reason());
      }
      return d;
    }
    forbidden.AddAll(f.fields);
    forbid_ids.push_back(f.proto->id());
  }

  auto allow = [&](const FieldSet& readable, const std::string& rule) {
    d.allowed = true;
    d.rule_id = rule;
    d.matched_rule_ids.reserve(1 + forbid_ids.size());
    d.matched_rule_ids.push_back(rule);
    d.matched_rule_ids.insert(d.matched_rule_ids.end(), forbid_ids.begin(),
                              forbid_ids.end());
    d.fields.reserve(all_readable ? ds.field_names.size()
                                  : requested_order.size());
    if (all_readable) {
      for (size_t i = 0; i < ds.field_names.size(); ++i)
        if (readable.Has(i)) d.fields.push_back(ds.field_names[i]);
    } else {
      for (uint32_t i : requested_order) d.fields.push_back(ds.field_names[i]);
    }
    d.adapter_fields = d.fields;
    d.message.clear();
  };

  // 2. The owner reads its own data.
  if (req.consumer_agency == dataset.provider_agency()) {
    FieldSet readable = ds.all.Minus(forbidden);
    if (all_readable || requested.SubsetOf(readable)) {
      note("owner: agency ", req.consumer_agency, " owns ", dataset.id());
      allow(readable, "owner");
      return d;
    }
  }

  // 3. Grants, in the order written.
  absl::InlinedVector<uint32_t, 16> candidates;
  if (auto bc = ds.grants_by_code.find(req.consumer_agency);
      bc != ds.grants_by_code.end()) {
    candidates.assign(bc->second.begin(), bc->second.end());
  }
  if (!ds.pattern_grants.empty()) {
    for (uint32_t g : ds.pattern_grants) {
      if (ds.grants[g].consumers.Contains(req.consumer_agency) &&
          std::find(candidates.begin(), candidates.end(), g) ==
              candidates.end()) {
        candidates.push_back(g);
      }
    }
    std::sort(candidates.begin(), candidates.end());
  }
  NearMiss miss;
  miss.kind = Miss::kNoGrant;
  for (uint32_t gi : candidates) {
    const CompiledGrant& g = ds.grants[gi];
    const std::string& id = g.id;
    if (!g.purposes.Contains(req.purpose_code)) {
      note("grant ", id, ": purpose '", req.purpose_code, "' not granted");
      miss.Offer(Miss::kPurpose, &g, "");
      continue;
    }
    if (!(g.operations & (1u << req.operation))) {
      note("grant ", id, ": operation not granted");
      miss.Offer(Miss::kOperation, &g, "");
      continue;
    }
    if (now < g.valid_from || now >= g.valid_until) {
      const bool early = now < g.valid_from;
      std::string when =
          early ? absl::StrCat("is valid from ", g.proto->valid_from())
                : absl::StrCat("expired at ", g.proto->valid_until());
      note("grant ", id, ": ", when);
      miss.Offer(Miss::kWindow, &g, std::move(when));
      continue;
    }
    FieldSet readable = g.fields.Minus(forbidden);
    if (!all_readable && !requested.SubsetOf(readable)) {
      std::vector<std::string> missing;
      for (uint32_t i : requested_order)
        if (!readable.Has(i)) missing.push_back(ds.field_names[i]);
      note("grant ", id, ": does not grant ", absl::StrJoin(missing, ", "));
      if (miss.kind < Miss::kFields ||
          (miss.kind == Miss::kFields && missing.size() < miss.missing)) {
        miss.kind = Miss::kFields;
        miss.grant = &g;
        miss.detail = absl::StrJoin(missing, ", ");
        miss.missing = missing.size();
      }
      continue;
    }
    if (!query.empty()) {
      std::string why = query_refusal(readable, &g);
      if (!why.empty()) {
        note("grant ", id, ": ", why);
        miss.Offer(Miss::kQuery, &g, std::move(why));
        continue;
      }
    }
    const FieldSet served = all_readable ? readable : requested;
    if (served.Empty()) {
      note("grant ", id, ": every field it grants is forbidden");
      miss.Offer(Miss::kFields, &g, "every field granted is forbidden");
      continue;
    }
    if (served.Intersects(ds.personal)) {
      if (g.require_subject_id && !req.has_data_subject_id) {
        note("grant ", id, ": personal fields need a data subject id");
        miss.Offer(Miss::kSubject, &g, "");
        continue;
      }
      if (g.require_consent && req.consent_reference.empty()) {
        note("grant ", id, ": personal fields need a consent reference");
        miss.Offer(Miss::kConsent, &g, "");
        continue;
      }
    }
    std::vector<std::string> consumer_values;
    if (g.row_filter) {
      auto attrs = attributes_->find(req.consumer_agency);
      std::string missing_attr;
      for (const auto& a : g.row_filter->consumer_attributes()) {
        const std::string* v = nullptr;
        if (attrs != attributes_->end()) {
          if (auto ai = attrs->second.find(a); ai != attrs->second.end())
            v = &ai->second;
        }
        if (v == nullptr) {
          missing_attr = a;
          break;
        }
        consumer_values.push_back(*v);
      }
      if (!missing_attr.empty()) {
        // Fail closed: a filter that cannot be evaluated shows nothing.
        note("grant ", id, ": row filter needs consumer.", missing_attr,
             ", which agency ", req.consumer_agency, " lacks");
        miss.Offer(Miss::kFiltered, &g, missing_attr);
        continue;
      }
    }
    note("grant ", id, ": allows");
    allow(served, id);
    d.legal_basis = g.legal_basis;
    for (const MaskSpec& m : g.masks) {
      auto fi = ds.field_index.find(m.field);
      if (served.Has(fi->second)) d.masks.push_back(m);
    }
    if (g.row_filter) {
      d.row_filter = g.row_filter;
      d.filter_consumer_values = std::move(consumer_values);
      for (const auto& f : g.row_filter->fields()) {
        if (std::find(d.fields.begin(), d.fields.end(), f) == d.fields.end())
          d.adapter_fields.push_back(f);
      }
    }
    if (g.requests_per_minute != 0 || g.records_per_day != 0) {
      d.quota_requests_per_minute = g.requests_per_minute;
      d.quota_records_per_day = g.records_per_day;
      d.quota_key =
          absl::StrCat(dataset.id(), "/", id, "/", req.consumer_agency);
    }
    return d;
  }

  // 4. Open data: any agency reads the non-personal fields.
  if (dataset.category() == v1::DATA_CATEGORY_OPEN) {
    FieldSet readable = ds.all.Minus(ds.personal).Minus(forbidden);
    if (!readable.Empty() && (all_readable || requested.SubsetOf(readable))) {
      std::string why = query_refusal(readable, nullptr);
      if (why.empty()) {
        note("default:open: non-personal fields of open data");
        allow(readable, "default:open");
        return d;
      }
      note("default:open: ", why);
      if (miss.kind < Miss::kQuery) {
        miss.kind = Miss::kQuery;
        miss.grant = nullptr;
        miss.detail = std::move(why);
      }
    } else {
      note("default:open: does not cover the personal fields asked for");
    }
  }

  // 5. Deny, with the nearest miss.
  d.allowed = false;
  d.matched_rule_ids.clear();
  d.legal_basis = dataset.restriction_legal_basis();
  const std::string who = absl::StrCat("agency ", req.consumer_agency);
  if (miss.grant != nullptr) d.rule_id = miss.grant->id;
  switch (miss.kind) {
    case Miss::kNone:
    case Miss::kNoGrant:
      if (dataset.category() == v1::DATA_CATEGORY_PRIVATE) {
        d.message = absl::StrCat(
            "dataset ", dataset.id(), " is private to its owner ",
            dataset.provider_agency(), "; ", who,
            " needs a sharing agreement with the owner to read it");
      } else {
        d.message =
            absl::StrCat(who, " has no sharing grant for dataset ",
                         dataset.id(), "; ask its owner ",
                         dataset.provider_agency(), " for a sharing agreement");
      }
      d.rule_id = "default:deny";
      break;
    case Miss::kPurpose:
      d.message =
          absl::StrCat("purpose '", req.purpose_code, "' is not granted to ",
                       who, " for dataset ", dataset.id());
      break;
    case Miss::kOperation:
      d.message = absl::StrCat("this operation is not granted to ", who,
                               " for dataset ", dataset.id());
      break;
    case Miss::kFields:
      d.message = absl::StrCat(
          "fields not granted to ", who, ": ", miss.detail,
          "; request only granted fields or ask for a wider grant");
      break;
    case Miss::kQuery:
      d.reason = v1::REASON_QUERY_NOT_ALLOWED;
      if (miss.grant == nullptr) d.rule_id = "default:open";
      d.message = absl::StrCat(
          d.rule_id == "default:open" ? "open data"
                                      : absl::StrCat("grant ", d.rule_id),
          " does not allow this query: ", miss.detail,
          "; query only by keys on fields you may read (masked ones by "
          "equality only), or ask the owner to name the key in the grant's "
          "query_keys");
      break;
    case Miss::kWindow:
      d.reason = v1::REASON_GRANT_NOT_VALID;
      d.message = absl::StrCat("grant ", d.rule_id, " for ", who, " ",
                               miss.detail, " (now ", Rfc3339(now),
                               "); ask the owner to renew the agreement");
      break;
    case Miss::kFiltered:
      d.message = absl::StrCat(
          "grant ", d.rule_id,
          " shows only rows matching its row filter, "
          "which needs the attribute '",
          miss.detail, "' of ", who,
          "; the policy directory does not define it (ask a policy "
          "administrator)");
      break;
    case Miss::kSubject:
      d.reason = v1::REASON_SUBJECT_REQUIRED;
      d.message = absl::StrCat(
          "grant ", d.rule_id,
          " requires a data subject id for personal "
          "fields; name the person (data_subject_id) or ask only for "
          "non-personal fields");
      break;
    case Miss::kConsent:
      d.reason = v1::REASON_CONSENT_REQUIRED;
      d.message =
          absl::StrCat("grant ", d.rule_id,
                       " requires a consent or legal-basis "
                       "reference for personal fields; set consent_reference");
      break;
  }
  note("deny: ", d.message);
  return d;
}

}  // namespace dx::policy
