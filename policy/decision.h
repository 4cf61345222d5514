// The seam between the exchange path and the sharing policy: the gateway
// asks an Authorizer once per request, after authentication, and applies
// the AccessDecision (fields, masks, row filter, quota) to the answer.
#ifndef DX_POLICY_DECISION_H_
#define DX_POLICY_DECISION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dx/v1/errors.pb.h"
#include "dx/v1/exchange.pb.h"
#include "dx/v1/policy.pb.h"

namespace dx::policy {

class RowFilter;

struct AccessRequest {
  std::string consumer_agency;
  std::string dataset_id;
  std::string purpose_code;
  v1::Operation operation = v1::OPERATION_READ;
  // As requested; empty means "all I may read".
  std::vector<std::string> fields;
  bool has_data_subject_id = false;
  std::string consent_reference;
};

struct MaskSpec {
  std::string field;
  v1::MaskKind kind = v1::MASK_KIND_FULL;
  uint32_t keep_last = 0;
};

struct AccessDecision {
  bool allowed = false;
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
  // Daily record quota left (0: no such quota); the gateway asks the
  // adapter for no more. `quota_key` names the counters to charge.
  uint64_t max_records = 0;
  std::string quota_key;
  // The deciding grant's quota limits (0: none).
  uint32_t quota_requests_per_minute = 0;
  uint64_t quota_records_per_day = 0;

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
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // Thread-safe; never blocks on I/O.
  virtual AccessDecision Decide(const AccessRequest& request) const = 0;
  // After an allowed exchange: how many records were served (daily quota).
  virtual void RecordsServed(const AccessDecision& decision,
                             uint64_t records) const = 0;
};

}  // namespace dx::policy

#endif  // DX_POLICY_DECISION_H_
