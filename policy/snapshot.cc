// PolicySnapshot::Decide: the evaluator, one private function per step (the
// order of checks is in snapshot.h). Allocation-light: field sets are bit sets,
// rule lookups are hash lookups, and the strings of the answer are the only
// copies made.
#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/quote.h"
#include "policy/internal/evaluation.h"
#include "registry/query_keys.h"

namespace dx::policy {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

}  // namespace

AccessDecision PolicySnapshot::Decide(const AccessRequest& req, absl::Time now,
                                      std::vector<std::string>* trace) const {
  AccessDecision d;
  d.policy_version = version_;
  d.registry = registry_;
  Evaluation e(req, now, trace);
  if (RefuseOutsideRegistry(&e, &d)) return d;  // 0.
  if (ApplyForbids(&e, &d)) return d;           // 1.
  if (OwnerReads(e, &d)) return d;              // 2.
  if (FirstGrantDecides(&e, &d)) return d;      // 3.
  if (OpenDataDecides(&e, &d)) return d;        // 4.
  DenyWithNearestMiss(e, &d);                   // 5.
  return d;
}

// 0. The registry: the dataset, the calling system, the fields, the query
// keys.
bool PolicySnapshot::RefuseOutsideRegistry(Evaluation* e,
                                           AccessDecision* d) const {
  const AccessRequest& req = e->req;
  if (RefuseSucceededConsumer(e, d)) return true;
  const CompiledDataset* found = Find(req.dataset_id);
  if (found == nullptr) {
    d->reason = v1::REASON_UNKNOWN_DATASET;
    d->code = absl::StatusCode::kNotFound;
    d->message = absl::StrCat("dataset ", Quote(req.dataset_id),
                              " is not in the registry; check the dataset id");
    return true;
  }
  const CompiledDataset& ds = *found;
  const v1::Dataset& dataset = *ds.dataset;
  e->ds = found;
  e->dataset = &dataset;
  d->dataset = &dataset;
  if (ds.state_secret) return RefuseStateSecret(*e, d);
  if (req.consumer_system.has_value() &&
      !registry_->HasSystem(req.consumer_agency, *req.consumer_system)) {
    d->reason = v1::REASON_UNKNOWN_CONSUMER;
    d->code = absl::StatusCode::kPermissionDenied;
    d->message = absl::StrCat("system ", Quote(*req.consumer_system),
                              " of agency ", req.consumer_agency,
                              " is not registered with this gateway");
    return true;
  }

  e->requested = FieldSet(ds.field_names.size());
  for (const std::string& f : req.fields) {
    auto fi = ds.field_index.find(f);
    if (fi == ds.field_index.end()) {
      d->reason = v1::REASON_UNKNOWN_FIELD;
      d->code = absl::StatusCode::kInvalidArgument;
      d->message = absl::StrCat("field ", Quote(f), " is not in dataset ",
                                dataset.id(), "'s schema");
      return true;
    }
    if (!e->requested.Has(fi->second)) {
      e->requested_order.push_back(fi->second);
    }
    e->requested.Add(fi->second);
  }
  e->all_readable = req.fields.empty();

  // The query's keys: each declared by the registry, required ones present.
  e->query_fields = FieldSet(ds.field_names.size());
  for (const std::string& name : req.query_keys) {
    auto use = registry::ResolveQueryKey(dataset, name);
    if (!use.has_value()) {
      d->reason = v1::REASON_UNKNOWN_QUERY_KEY;
      d->code = absl::StatusCode::kInvalidArgument;
      d->message = absl::StrCat("unknown query key ", Quote(name), "; ",
                                registry::AcceptedQueryKeysText(dataset));
      return true;
    }
    const uint32_t field = ds.query_key_fields[use->index];
    e->query.push_back({&name, *use, field});
    e->query_fields.Add(field);
  }
  for (int k = 0; k < dataset.query_keys_size(); ++k) {
    if (!dataset.query_keys(k).required()) continue;
    if (std::none_of(
            e->query.begin(), e->query.end(),
            [k](const Evaluation::QueryUse& q) { return q.use.index == k; })) {
      d->reason = v1::REASON_MALFORMED_REQUEST;
      d->code = absl::StatusCode::kInvalidArgument;
      d->message = absl::StrCat(
          "query key ", Quote(registry::QueryKeyName(dataset.query_keys(k))),
          " is required (in any of its forms) by dataset ", dataset.id());
      return true;
    }
  }
  if (e->requested.Intersects(ds.secret) ||
      e->query_fields.Intersects(ds.secret)) {
    return RefuseStateSecret(*e, d);
  }
  return false;
}

// 0. A consumer whose code was succeeded (a merged province): refused from
// the effective date, naming the successors; in a grace period decided as
// usual, with the successors kept for the audit record.
bool PolicySnapshot::RefuseSucceededConsumer(Evaluation* e,
                                             AccessDecision* d) const {
  const registry::Successions& successions = registry_->successions();
  const registry::SuccessionEntry* s = successions.Find(e->req.consumer_agency);
  if (s == nullptr) return false;
  const registry::SuccessionState state =
      successions.StateAt(e->req.consumer_agency, e->now);
  if (state == registry::SuccessionState::kActive) return false;
  d->consumer_successors.assign(s->proto->successors().begin(),
                                s->proto->successors().end());
  if (state == registry::SuccessionState::kInGrace) {
    e->Note("consumer ", e->req.consumer_agency,
            ": succeeded, in its grace period until ", Rfc3339(s->grace_until),
            "; decided as before");
    return false;
  }
  d->reason = v1::REASON_AGENCY_SUCCEEDED;
  d->code = absl::StatusCode::kFailedPrecondition;
  d->legal_basis = s->proto->legal_basis();
  d->message = absl::StrCat(
      registry::SuccessionText(*s),
      s->proto->grace_until().empty()
          ? std::string()
          : absl::StrCat("; its grace period ended ", Rfc3339(s->grace_until)),
      "; call as ", absl::StrJoin(s->proto->successors(), " or "),
      " with that agency's certificate");
  e->Note("consumer ", e->req.consumer_agency, ": ", d->message);
  return true;
}

// 1. Forbids: a whole-dataset forbid, or one on a field asked or queried
// by, refuses; the others remove their fields from what may be read.
bool PolicySnapshot::ApplyForbids(Evaluation* e, AccessDecision* d) const {
  const AccessRequest& req = e->req;
  const CompiledDataset& ds = *e->ds;
  const v1::Dataset& dataset = *e->dataset;
  e->forbidden = FieldSet(ds.field_names.size());
  for (const CompiledForbid& f : ds.forbids) {
    if (!f.consumers.Contains(req.consumer_agency) ||
        !f.purposes.Contains(req.purpose_code)) {
      continue;
    }
    const bool refuses = f.whole_dataset || (!e->all_readable &&
                                             e->requested.Intersects(f.fields));
    e->Note("forbid ", f.proto->id(), ": matches",
            refuses ? ", refuses the request" : ", removes its fields");
    if (refuses) {
      d->reason = v1::REASON_POLICY_FORBIDDEN;
      d->rule_id = f.proto->id();
      d->matched_rule_ids = {f.proto->id()};
      d->legal_basis = f.proto->legal_basis().empty()
                           ? dataset.restriction_legal_basis()
                           : f.proto->legal_basis();
      std::string what = "reading dataset " + dataset.id();
      if (!f.whole_dataset) {
        std::vector<std::string> names;
        for (uint32_t i : e->requested_order)
          if (f.fields.Has(i)) names.push_back(ds.field_names[i]);
        what = absl::StrCat("fields ", absl::StrJoin(names, ", "), " of ",
                            dataset.id());
      }
      d->message = absl::StrCat("forbid rule ", f.proto->id(), " refuses ",
                                what, " to agency ", req.consumer_agency);
      if (!f.proto->reason().empty()) {
        absl::StrAppend(&d->message, ": ", f.proto->reason());
      }
      return true;
    }
    if (!f.whole_dataset && e->query_fields.Intersects(f.fields)) {
      // Asking about a field is reading it: {ethnicity: X} for names only
      // tells whose ethnicity X is.
      const Evaluation::QueryUse* q = nullptr;
      for (const Evaluation::QueryUse& u : e->query)
        if (f.fields.Has(u.field) && q == nullptr) q = &u;
      e->Note("forbid ", f.proto->id(), ": matches, refuses the query key ",
              *q->name);
      d->reason = v1::REASON_QUERY_NOT_ALLOWED;
      d->rule_id = f.proto->id();
      d->matched_rule_ids = {f.proto->id()};
      d->legal_basis = f.proto->legal_basis().empty()
                           ? dataset.restriction_legal_basis()
                           : f.proto->legal_basis();
      d->message = absl::StrCat(
          "forbid rule ", f.proto->id(), " refuses querying by field ",
          ds.field_names[q->field], " of ", dataset.id(), " (query key ",
          Quote(*q->name), ") to agency ", req.consumer_agency);
      if (!f.proto->reason().empty()) {
        absl::StrAppend(&d->message, ": ", f.proto->reason());
      }
      return true;
    }
    e->forbidden.AddAll(f.fields);
    e->forbid_ids.push_back(f.proto->id());
  }
  return false;
}

// 2. The owner reads its own data.
bool PolicySnapshot::OwnerReads(const Evaluation& e, AccessDecision* d) const {
  if (e.req.consumer_agency != e.dataset->provider_agency()) return false;
  FieldSet readable = e.ds->all.Minus(e.forbidden);
  if (!e.all_readable && !e.requested.SubsetOf(readable)) return false;
  e.Note("owner: agency ", e.req.consumer_agency, " owns ", e.dataset->id());
  e.Allow(readable, "owner", d);
  return true;
}

// 3. Grants, in the order written: the first that matches decides.
bool PolicySnapshot::FirstGrantDecides(Evaluation* e, AccessDecision* d) const {
  const AccessRequest& req = e->req;
  const CompiledDataset& ds = *e->ds;
  const v1::Dataset& dataset = *e->dataset;
  const absl::Time now = e->now;
  NearMiss& miss = e->miss;
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
  miss.kind = Miss::kNoGrant;
  for (uint32_t gi : candidates) {
    const CompiledGrant& g = ds.grants[gi];
    const std::string& id = g.id;
    if (!g.purposes.Contains(req.purpose_code)) {
      e->Note("grant ", id, ": purpose '", req.purpose_code, "' not granted");
      miss.Offer(Miss::kPurpose, &g, "");
      continue;
    }
    if (!(g.operations & (1u << req.operation))) {
      e->Note("grant ", id, ": operation not granted");
      miss.Offer(Miss::kOperation, &g, "");
      continue;
    }
    if (!(g.modes & (1u << req.mode))) {
      std::string mode = v1::AccessMode_Name(req.mode);
      mode = absl::AsciiStrToLower(mode.substr(mode.rfind('_') + 1));
      e->Note("grant ", id, ": mode ", mode, " not granted");
      miss.Offer(Miss::kOperation, &g,
                 absl::StrCat("grant ", id, " does not allow mode '", mode,
                              "' (its modes: lookup and stream unless it "
                              "names them); ask the owner for a grant with "
                              "modes: [",
                              mode, "]"));
      continue;
    }
    if (now < g.valid_from || now >= g.valid_until) {
      const bool early = now < g.valid_from;
      std::string when =
          early ? absl::StrCat("is valid from ", g.proto->valid_from())
                : absl::StrCat("expired at ", g.proto->valid_until());
      e->Note("grant ", id, ": ", when);
      miss.Offer(Miss::kWindow, &g, std::move(when));
      continue;
    }
    FieldSet readable = g.fields.Minus(e->forbidden);
    if (!e->all_readable && !e->requested.SubsetOf(readable)) {
      std::vector<std::string> missing;
      for (uint32_t i : e->requested_order)
        if (!readable.Has(i)) missing.push_back(ds.field_names[i]);
      e->Note("grant ", id, ": does not grant ", absl::StrJoin(missing, ", "));
      if (miss.kind < Miss::kFields ||
          (miss.kind == Miss::kFields && missing.size() < miss.missing)) {
        miss.kind = Miss::kFields;
        miss.grant = &g;
        miss.detail = absl::StrJoin(missing, ", ");
        miss.missing = missing.size();
      }
      continue;
    }
    if (!e->query.empty()) {
      std::string why = e->QueryRefusal(readable, &g);
      if (!why.empty()) {
        e->Note("grant ", id, ": ", why);
        miss.Offer(Miss::kQuery, &g, std::move(why));
        continue;
      }
    }
    const FieldSet served = e->all_readable ? readable : e->requested;
    if (served.Empty()) {
      e->Note("grant ", id, ": every field it grants is forbidden");
      miss.Offer(Miss::kFields, &g, "every field granted is forbidden");
      continue;
    }
    if (served.Intersects(ds.personal)) {
      if (g.require_subject_id && !req.has_data_subject_id) {
        e->Note("grant ", id, ": personal fields need a data subject id");
        miss.Offer(Miss::kSubject, &g, "");
        continue;
      }
      if (g.require_consent && req.consent_reference.empty()) {
        e->Note("grant ", id, ": personal fields need a consent reference");
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
        e->Note("grant ", id, ": row filter needs consumer.", missing_attr,
                ", which agency ", req.consumer_agency, " lacks");
        miss.Offer(Miss::kFiltered, &g, missing_attr);
        continue;
      }
    }
    e->Note("grant ", id, ": allows");
    e->Allow(served, id, d);
    d->legal_basis = g.legal_basis;
    for (const MaskSpec& m : g.masks) {
      auto fi = ds.field_index.find(m.field);
      if (served.Has(fi->second)) d->masks.push_back(m);
    }
    if (g.row_filter) {
      d->row_filter = g.row_filter;
      d->filter_consumer_values = std::move(consumer_values);
      for (const auto& f : g.row_filter->fields()) {
        if (std::find(d->fields.begin(), d->fields.end(), f) == d->fields.end())
          d->adapter_fields.push_back(f);
      }
    }
    if (g.requests_per_minute != 0 || g.records_per_day != 0) {
      d->quota_requests_per_minute = g.requests_per_minute;
      d->quota_records_per_day = g.records_per_day;
      d->quota_key =
          absl::StrCat(dataset.id(), "/", id, "/", req.consumer_agency);
    }
    return true;
  }
  return false;
}

// 4. Open data: any agency reads the non-personal fields.
bool PolicySnapshot::OpenDataDecides(Evaluation* e, AccessDecision* d) const {
  const CompiledDataset& ds = *e->ds;
  if (e->dataset->category() != v1::DATA_CATEGORY_OPEN) return false;
  // Open data is read on request; a subscription needs a grant naming it.
  if (e->req.mode == v1::ACCESS_MODE_SUBSCRIPTION) return false;
  FieldSet readable = ds.all.Minus(ds.personal).Minus(e->forbidden);
  if (readable.Empty() ||
      (!e->all_readable && !e->requested.SubsetOf(readable))) {
    e->Note("default:open: does not cover the personal fields asked for");
    return false;
  }
  std::string why = e->QueryRefusal(readable, nullptr);
  if (why.empty()) {
    e->Note("default:open: non-personal fields of open data");
    e->Allow(readable, "default:open", d);
    return true;
  }
  e->Note("default:open: ", why);
  if (e->miss.kind < Miss::kQuery) {
    e->miss.kind = Miss::kQuery;
    e->miss.grant = nullptr;
    e->miss.detail = std::move(why);
  }
  return false;
}

// 5. Deny, with the nearest miss as the reason.
void PolicySnapshot::DenyWithNearestMiss(const Evaluation& e,
                                         AccessDecision* d) const {
  const AccessRequest& req = e.req;
  const v1::Dataset& dataset = *e.dataset;
  const NearMiss& miss = e.miss;
  d->allowed = false;
  d->matched_rule_ids.clear();
  d->legal_basis = dataset.restriction_legal_basis();
  const std::string who = absl::StrCat("agency ", req.consumer_agency);
  if (miss.grant != nullptr) d->rule_id = miss.grant->id;
  switch (miss.kind) {
    case Miss::kNone:
    case Miss::kNoGrant:
      if (dataset.category() == v1::DATA_CATEGORY_PRIVATE) {
        d->message = absl::StrCat(
            "dataset ", dataset.id(), " is private to its owner ",
            dataset.provider_agency(), "; ", who,
            " needs a sharing agreement with the owner to read it");
      } else {
        d->message =
            absl::StrCat(who, " has no sharing grant for dataset ",
                         dataset.id(), "; ask its owner ",
                         dataset.provider_agency(), " for a sharing agreement");
      }
      d->rule_id = "default:deny";
      break;
    case Miss::kPurpose:
      d->message =
          absl::StrCat("purpose '", req.purpose_code, "' is not granted to ",
                       who, " for dataset ", dataset.id());
      break;
    case Miss::kOperation:
      d->message = miss.detail.empty()
                       ? absl::StrCat("this operation is not granted to ", who,
                                      " for dataset ", dataset.id())
                       : absl::StrCat(miss.detail, " (", who, ", dataset ",
                                      dataset.id(), ")");
      break;
    case Miss::kFields:
      d->message = absl::StrCat(
          "fields not granted to ", who, ": ", miss.detail,
          "; request only granted fields or ask for a wider grant");
      break;
    case Miss::kQuery:
      d->reason = v1::REASON_QUERY_NOT_ALLOWED;
      if (miss.grant == nullptr) d->rule_id = "default:open";
      d->message = absl::StrCat(
          d->rule_id == "default:open" ? "open data"
                                       : absl::StrCat("grant ", d->rule_id),
          " does not allow this query: ", miss.detail,
          "; query only by keys on fields you may read (masked ones by "
          "equality only), or ask the owner to name the key in the grant's "
          "query_keys");
      break;
    case Miss::kWindow:
      d->reason = v1::REASON_GRANT_NOT_VALID;
      d->message = absl::StrCat("grant ", d->rule_id, " for ", who, " ",
                                miss.detail, " (now ", Rfc3339(e.now),
                                "); ask the owner to renew the agreement");
      break;
    case Miss::kFiltered:
      d->message = absl::StrCat(
          "grant ", d->rule_id,
          " shows only rows matching its row filter, "
          "which needs the attribute '",
          miss.detail, "' of ", who,
          "; the policy directory does not define it (ask a policy "
          "administrator)");
      break;
    case Miss::kSubject:
      d->reason = v1::REASON_SUBJECT_REQUIRED;
      d->message = absl::StrCat(
          "grant ", d->rule_id,
          " requires a data subject id for personal "
          "fields; name the person (data_subject_id) or ask only for "
          "non-personal fields");
      break;
    case Miss::kConsent:
      d->reason = v1::REASON_CONSENT_REQUIRED;
      d->message =
          absl::StrCat("grant ", d->rule_id,
                       " requires a consent or legal-basis "
                       "reference for personal fields; set consent_reference");
      break;
  }
  e.Note("deny: ", d->message);
}

}  // namespace dx::policy
