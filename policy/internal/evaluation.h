// What the steps of PolicySnapshot::Decide (snapshot.cc) share while one
// decision is reached, and why the nearest grant missed. Private to policy/.
#ifndef DX_POLICY_INTERNAL_EVALUATION_H_
#define DX_POLICY_INTERNAL_EVALUATION_H_

#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "policy/internal/compiled.h"
#include "policy/snapshot.h"
#include "registry/query_keys.h"

namespace dx::policy {

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

// What the steps of one decision share: the request, its fields and query
// keys resolved against the dataset (step 0), what the forbids removed
// (step 1), and the nearest miss so far (steps 3 and 4, for step 5).
struct PolicySnapshot::Evaluation {
  struct QueryUse {
    const std::string* name;
    registry::QueryKeyUse use;
    uint32_t field;
  };

  Evaluation(const AccessRequest& request, absl::Time at,
             std::vector<std::string>* lines)
      : req(request), now(at), trace(lines) {}

  template <typename... Parts>
  void Note(const Parts&... parts) const {
    if (trace) trace->push_back(absl::StrCat(parts...));
  }
  // Whether `readable` (and a grant's masks and extra keys) lets the
  // consumer ask every predicate of the query; else the first one refused,
  // and why.
  std::string QueryRefusal(const FieldSet& readable,
                           const CompiledGrant* g) const;
  // Allows the request by `rule`, serving `readable` when no field was
  // named (else the fields asked, in their order).
  void Allow(const FieldSet& readable, const std::string& rule,
             AccessDecision* d) const;

  const AccessRequest& req;
  const absl::Time now;
  std::vector<std::string>* const trace;

  const CompiledDataset* ds = nullptr;
  const v1::Dataset* dataset = nullptr;
  // The request's fields as a set (and in the order asked).
  FieldSet requested;
  absl::InlinedVector<uint32_t, 16> requested_order;
  bool all_readable = false;
  absl::InlinedVector<QueryUse, 4> query;
  FieldSet query_fields;
  FieldSet forbidden;
  std::vector<std::string> forbid_ids;
  NearMiss miss;
};

}  // namespace dx::policy

#endif  // DX_POLICY_INTERNAL_EVALUATION_H_
