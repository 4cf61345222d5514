// The seam between the exchange path and the sharing policy: the gateway
// asks an Authorizer once per request, after authentication, and applies
// the AccessDecision (fields, masks, row filter, quota) to the answer. The
// decision also carries the registry it was made against, so that the
// gateway forwards to the adapter of the very dataset that was decided on.
#ifndef DX_POLICY_DECISION_H_
#define DX_POLICY_DECISION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/optional.h"
#include "common/cancellation.h"
#include "dx/v1/errors.pb.h"
#include "dx/v1/exchange.pb.h"
#include "dx/v1/policy.pb.h"
#include "policy/quota_store.h"
#include "registry/registry.h"

namespace dx::policy {

class RowFilter;

struct AccessRequest {
  std::string consumer_agency;
  // The calling system, checked against the registry; unset for what-if
  // questions (explain), which ask about an agency.
  absl::optional<std::string> consumer_system;
  std::string dataset_id;
  std::string purpose_code;
  v1::Operation operation = v1::OPERATION_READ;
  // How the consumer reads: a grant allows look-ups and streams unless it
  // names its modes; a subscription only when it names it.
  v1::AccessMode mode = v1::ACCESS_MODE_LOOKUP;
  // As requested; empty means "all I may read".
  std::vector<std::string> fields;
  // The names of the request's query keys, as sent ("citizen_id",
  // "full_name.prefix", "birth_date.from"); the values do not matter to
  // the decision.
  std::vector<std::string> query_keys;
  bool has_data_subject_id = false;
  std::string consent_reference;
  // The most records this call can return (0: no limit); a daily records
  // quota is charged this much at most, and the rest given back.
  uint64_t max_records = 0;
  // False for a decision made again about a call already admitted and
  // charged (a subscription under way): no quota is taken or reserved.
  bool charge_quota = true;
};

struct MaskSpec {
  std::string field;
  v1::MaskKind kind = v1::MASK_KIND_FULL;
  uint32_t keep_last = 0;
};

struct AccessDecision {
  bool allowed = false;
  // The registry the decision was made against, and the dataset in it (null
  // when it is not registered). Kept alive by `registry`.
  std::shared_ptr<const registry::Registry> registry;
  const v1::Dataset* dataset = nullptr;
  // Allowed: the fields the consumer receives, in this order.
  std::vector<std::string> fields;
  // What the adapter is asked for: `fields` plus the columns the row filter
  // reads (the gateway drops those after filtering).
  std::vector<std::string> adapter_fields;
  std::vector<MaskSpec> masks;
  // Rows the consumer may see; null means all. `filter_consumer_values`
  // are the calling agency's attributes the filter uses, in the filter's
  // consumer_attributes() order.
  std::shared_ptr<const RowFilter> row_filter;
  std::vector<std::string> filter_consumer_values;
  // The deciding grant's quotas (0: none) and the name of its counters.
  std::string quota_key;
  uint32_t quota_requests_per_minute = 0;
  uint64_t quota_records_per_day = 0;
  // With a daily records quota: the records this exchange may return at
  // most (its charge's tokens); 0 when there is no such quota. The gateway
  // calls records_charge->Use(n) with what it served; the rest goes back
  // when the last copy of the decision is gone.
  uint64_t max_records = 0;
  std::shared_ptr<QuotaCharge> records_charge;

  // The rule that decided (allow or deny), every rule that shaped the
  // decision, and the policy version ("r<revision>").
  std::string rule_id;
  std::vector<std::string> matched_rule_ids;
  std::string policy_version;

  // Denied: the status, why, and the legal basis restricting sharing.
  absl::StatusCode code = absl::StatusCode::kPermissionDenied;
  v1::ReasonCode reason = v1::REASON_POLICY_DENIED;
  std::string message;
  std::string legal_basis;
  // The consumer's code was succeeded (registry successions): its
  // successors, for the audit record (served in a grace period, or
  // refused with REASON_AGENCY_SUCCEEDED).
  std::vector<std::string> consumer_successors;
};

class Authorizer {
 public:
  using Callback = std::function<void(AccessDecision)>;
  virtual ~Authorizer() = default;
  // Decides `request` with the registry and policy in force, then charges
  // the deciding grant's quotas. `done` runs exactly once: inline when
  // nothing waits on I/O, else on another thread; a quota store that cannot
  // be reached gives a refusal (fail closed), as does `cancel`. Thread-safe.
  virtual void Decide(const AccessRequest& request, Cancellation* cancel,
                      Callback done) const = 0;
};

}  // namespace dx::policy

#endif  // DX_POLICY_DECISION_H_
