#include "gateway/subscription_chain.h"

#include "absl/strings/str_cat.h"
#include "common/bytes.h"

namespace dx::gateway {

absl::StatusOr<v1::SignedEventBatch> SignBatch(const certs::Signer& signer,
                                               const v1::EventBatch& batch) {
  v1::SignedEventBatch out;
  if (!batch.SerializeToString(out.mutable_envelope())) {
    return absl::InternalError("cannot serialize an event batch");
  }
  auto sig = signer.SignWithCertificate(out.envelope());
  if (!sig.ok()) return sig.status();
  out.set_signature(std::move(sig->der));
  out.set_signer_certificate(std::move(sig->certificate_der));
  return out;
}

std::string BatchHash(const v1::SignedEventBatch& signed_batch) {
  return certs::Sha256(signed_batch.envelope());
}

absl::StatusOr<v1::EventBatch> FollowChain(const v1::SignedEventBatch& next,
                                           ChainHead* head) {
  v1::EventBatch b;
  if (next.envelope().empty() || !b.ParseFromString(next.envelope())) {
    return absl::FailedPreconditionError(
        "the batch's envelope is not a dx.v1.EventBatch");
  }
  if (b.previous_batch_sha256() != head->sha256) {
    return absl::FailedPreconditionError(absl::StrCat(
        "batch ", b.first_sequence(), "-", b.last_sequence(), " chains to ",
        HexEncode(b.previous_batch_sha256()),
        ", not to the last batch accepted (", HexEncode(head->sha256),
        "): a batch is missing or was rewritten"));
  }
  if (b.first_sequence() != head->last_sequence + 1 || b.events_size() == 0 ||
      b.last_sequence() != b.first_sequence() + b.events_size() - 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("batch ", b.first_sequence(), "-", b.last_sequence(),
                     " with ", b.events_size(),
                     " events does not follow sequence ", head->last_sequence));
  }
  for (int i = 0; i < b.events_size(); ++i) {
    if (b.events(i).sequence() != b.first_sequence() + i) {
      return absl::FailedPreconditionError(
          absl::StrCat("event ", i, " of batch ", b.first_sequence(),
                       " has sequence ", b.events(i).sequence()));
    }
  }
  head->sha256 = BatchHash(next);
  head->last_sequence = b.last_sequence();
  return b;
}

absl::StatusOr<v1::SignedSubscriptionEnded> SignEnded(
    const certs::Signer& signer, const v1::SubscriptionEnded& ended) {
  v1::SignedSubscriptionEnded out;
  if (!ended.SerializeToString(out.mutable_envelope())) {
    return absl::InternalError("cannot serialize a subscription's end");
  }
  auto sig = signer.SignWithCertificate(out.envelope());
  if (!sig.ok()) return sig.status();
  out.set_signature(std::move(sig->der));
  out.set_signer_certificate(std::move(sig->certificate_der));
  return out;
}

}  // namespace dx::gateway
