// AllowListAuthorizer: allows a request when one of the dataset's access
// rules names the consumer agency and the purpose, and covers every
// requested field. Deny by default; a refusal cites the dataset's
// restriction_legal_basis.
#ifndef DX_GATEWAY_ALLOW_LIST_AUTHORIZER_H_
#define DX_GATEWAY_ALLOW_LIST_AUTHORIZER_H_

#include "gateway/authorizer.h"

namespace dx::gateway {

class AllowListAuthorizer final : public Authorizer {
 public:
  AccessDecision Decide(const AccessRequest& request) const override;
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_ALLOW_LIST_AUTHORIZER_H_
