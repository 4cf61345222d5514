// State secrets (Decision 1562/QĐ-TTg): a dataset or field marked
// state_secret in the registry never travels over dxgate. The compiler
// refuses a grant that would let one leave; the evaluator refuses every
// request for one, whatever the policy says (a mark set after a grant, or a
// stored policy compiled leniently, still fails closed). docs/POLICY.md,
// "State secrets".
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/internal/evaluation.h"
#include "policy/internal/rule_compiler.h"

namespace dx::policy {
namespace {

constexpr char kNeverTravels[] =
    "state secrets never travel over dxgate (Decision 1562/QĐ-TTg)";

std::vector<std::string> Names(const PolicySnapshot::CompiledDataset& ds,
                               const FieldSet& set) {
  std::vector<std::string> out;
  for (size_t i = 0; i < ds.field_names.size(); ++i) {
    if (set.Has(i)) out.push_back(ds.field_names[i]);
  }
  return out;
}

}  // namespace

namespace internal {

void Compiler::StateSecret(const PolicySnapshot::CompiledDataset& ds,
                           const std::string& path, CompiledGrant* c) {
  const std::string& id = ds.dataset->id();
  std::string what;
  if (ds.state_secret) {
    what = absl::StrCat("dataset ", id,
                        " is marked state_secret in the registry: no grant "
                        "may forward it");
  } else if (c->fields.Intersects(ds.secret)) {
    what =
        absl::StrCat("it grants field(s) ",
                     absl::StrJoin(Names(ds, c->fields.And(ds.secret)), ", "),
                     " of ", id, ", marked state_secret in the registry");
  } else if (c->filter_fields.Intersects(ds.secret)) {
    what = absl::StrCat(
        "its row filter reads field(s) ",
        absl::StrJoin(Names(ds, c->filter_fields.And(ds.secret)), ", "), " of ",
        id,
        ", marked state_secret in the registry (a filter tells what they "
        "hold)");
  } else {
    FieldSet queried(ds.field_names.size());
    for (size_t k = 0; k < c->extra_query_ops.size(); ++k) {
      if (c->extra_query_ops[k] != 0) queried.Add(ds.query_key_fields[k]);
    }
    if (queried.Intersects(ds.secret)) {
      what = absl::StrCat(
          "its query_keys match field(s) ",
          absl::StrJoin(Names(ds, queried.And(ds.secret)), ", "), " of ", id,
          ", marked state_secret in the registry (asking about a field is "
          "reading it)");
    }
  }
  if (what.empty()) return;
  const std::string message =
      absl::StrCat("grant ", c->id, " is refused: ", what, "; ", kNeverTravels,
                   ". Remove the grant, or the state-secret fields from it");
  if (tolerate_secret_ || absl::StartsWith(path, "stored:")) {
    Warn(path, absl::StrCat(message,
                            ". This stored grant is disabled: it allows "
                            "nothing until it is removed"));
    c->consumers = ConsumerSet();  // matches nobody, indexed nowhere
    return;
  }
  Error(path, message);
}

}  // namespace internal

bool PolicySnapshot::RefuseStateSecret(const Evaluation& e,
                                       AccessDecision* d) const {
  const CompiledDataset& ds = *e.ds;
  std::string what = absl::StrCat("dataset ", ds.dataset->id());
  if (!ds.state_secret) {
    FieldSet asked = e.requested;
    asked.AddAll(e.query_fields);
    what = absl::StrCat("field(s) ",
                        absl::StrJoin(Names(ds, asked.And(ds.secret)), ", "),
                        " of dataset ", ds.dataset->id());
  }
  e.Note("state secret: ", what, " is marked state_secret in the registry");
  d->reason = v1::REASON_STATE_SECRET;
  d->code = absl::StatusCode::kPermissionDenied;
  d->legal_basis = "Decision 1562/QĐ-TTg";
  d->message = absl::StrCat(what,
                            " is a state secret and never travels over "
                            "dxgate, whatever the sharing policy says ",
                            "(Decision 1562/QĐ-TTg); ask its owner, ",
                            ds.dataset->provider_agency(),
                            ", through the channels the law provides for "
                            "state secrets");
  return true;
}

}  // namespace dx::policy
