// Field masks applied to values on their way to the consumer.
#ifndef DX_POLICY_MASKING_H_
#define DX_POLICY_MASKING_H_

#include <string>

#include "absl/strings/string_view.h"
#include "policy/decision.h"

namespace dx::policy {

// The key of MASK_KIND_HASH for one consumer: HMAC-SHA256 of the consumer
// agency under the gateway's secret, so tokens are stable for a consumer
// and unlinkable across consumers.
std::string MaskKeyFor(absl::string_view gateway_secret,
                       absl::string_view consumer_agency);

// `value` masked as `spec` says. Partial masks count UTF-8 characters, not
// bytes, so a Vietnamese name is never cut inside a character.
std::string MaskValue(const MaskSpec& spec, absl::string_view value,
                      absl::string_view hash_key);

}  // namespace dx::policy

#endif  // DX_POLICY_MASKING_H_
