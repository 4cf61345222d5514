// Which terms ride in a signed envelope after its RequestEnvelope fields.
// A Subscribe envelope is a RequestEnvelope followed by SubscriptionTerms
// (fields 1001-1010), an Ack envelope one followed by AckTerms (1011-1020);
// RequestEnvelope reserves 1001-1020, so a parsed RequestEnvelope holds any
// terms as unknown fields. Each rpc refuses the terms that are not its own:
// a signed subscribe sent to Exchange would otherwise be served as a plain
// look-up, and an ack sent to Subscribe (or the reverse) be misread.
// Pure functions, thread-safe.
#ifndef DX_GATEWAY_ENVELOPE_TERMS_H_
#define DX_GATEWAY_ENVELOPE_TERMS_H_

#include "dx/v1/exchange.pb.h"
#include "gateway/refusal.h"

namespace dx::gateway {

struct TermsCarried {
  bool subscription = false;  // a field in 1001-1010
  bool ack = false;           // a field in 1011-1020
};

TermsCarried TermsIn(const v1::RequestEnvelope& envelope);

// INVALID_ARGUMENT (REASON_MALFORMED_REQUEST) for an exchange envelope that
// carries subscription or ack terms; none otherwise.
Refusal TermsOnExchange(const v1::RequestEnvelope& envelope);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_ENVELOPE_TERMS_H_
