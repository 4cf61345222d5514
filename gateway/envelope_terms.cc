#include "gateway/envelope_terms.h"

#include "google/protobuf/unknown_field_set.h"

namespace dx::gateway {

TermsCarried TermsIn(const v1::RequestEnvelope& envelope) {
  TermsCarried out;
  const google::protobuf::UnknownFieldSet& unknown =
      envelope.GetReflection()->GetUnknownFields(envelope);
  for (int i = 0; i < unknown.field_count(); ++i) {
    const int n = unknown.field(i).number();
    if (n >= 1001 && n <= 1010) out.subscription = true;
    if (n >= 1011 && n <= 1020) out.ack = true;
  }
  return out;
}

Refusal TermsOnExchange(const v1::RequestEnvelope& envelope) {
  const TermsCarried t = TermsIn(envelope);
  if (t.subscription) {
    return Refusal::Of(absl::StatusCode::kInvalidArgument,
                       v1::REASON_MALFORMED_REQUEST,
                       "this is a subscription request (the envelope carries "
                       "SubscriptionTerms, fields 1001-1010): send it to "
                       "dx.v1.Subscriptions/Subscribe");
  }
  if (t.ack) {
    return Refusal::Of(
        absl::StatusCode::kInvalidArgument, v1::REASON_MALFORMED_REQUEST,
        "this is a subscription acknowledgement (the envelope carries "
        "AckTerms, fields 1011-1020): send it to dx.v1.Subscriptions/Ack");
  }
  return Refusal();
}

}  // namespace dx::gateway
