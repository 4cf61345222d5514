// Authorizer: the seam between the exchange path and the sharing policy.
// The gateway asks it once per request, after authentication. For now the
// registry's allow-list implements it (AllowListAuthorizer); the policy
// engine will replace it behind the same interface.
#ifndef DX_GATEWAY_AUTHORIZER_H_
#define DX_GATEWAY_AUTHORIZER_H_

#include <string>
#include <vector>

#include "dx/v1/errors.pb.h"
#include "dx/v1/registry.pb.h"

namespace dx::gateway {

struct AccessRequest {
  std::string consumer_agency;
  std::string consumer_system;
  const v1::Dataset* dataset = nullptr;  // never null
  std::string purpose_code;
  std::string legal_basis;
  // As requested; empty means "all I may read".
  std::vector<std::string> fields;
};

struct AccessDecision {
  bool allowed = false;
  // Allowed: the fields to ask for and return.
  std::vector<std::string> fields;
  // The rule that decided (allow or deny), and the policy version.
  std::string rule_id;
  std::string policy_version;
  // Denied: why, and the legal basis restricting sharing.
  v1::ReasonCode reason = v1::REASON_POLICY_DENIED;
  std::string message;
  std::string legal_basis;
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // Thread-safe; must not block.
  virtual AccessDecision Decide(const AccessRequest& request) const = 0;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_AUTHORIZER_H_
