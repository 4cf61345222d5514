// The chain of a subscription's signed batches: each EventBatch names the
// SHA-256 of the previous batch's signed bytes, so a consumer who keeps the
// hash of the last batch it accepted detects a missing, reordered or
// rewritten batch by itself. Signing (the gateway's side) and checking (what
// any consumer can do, here for tests and tools). Pure functions,
// thread-safe.
#ifndef DX_GATEWAY_SUBSCRIPTION_CHAIN_H_
#define DX_GATEWAY_SUBSCRIPTION_CHAIN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "certs/crypto.h"
#include "dx/v1/subscription.pb.h"

namespace dx::gateway {

// Serializes and signs `batch` (ECDSA P-256 over SHA-256 of the bytes).
absl::StatusOr<v1::SignedEventBatch> SignBatch(const certs::Signer& signer,
                                               const v1::EventBatch& batch);

// Serializes and signs a feed's final message, as SignBatch does a batch.
absl::StatusOr<v1::SignedSubscriptionEnded> SignEnded(
    const certs::Signer& signer, const v1::SubscriptionEnded& ended);

// What the next batch's previous_batch_sha256 must be.
std::string BatchHash(const v1::SignedEventBatch& signed_batch);

// Where a consumer's chain stands: the hash of the last batch accepted and
// its last sequence number (both empty/0 before the first batch).
struct ChainHead {
  std::string sha256;
  uint64_t last_sequence = 0;
};

// Checks that `next` follows `head` (its previous hash, its first
// sequence, its events numbered one by one) and that it parses; returns the
// batch and advances `head`. The signature is the caller's to check
// (certs::Verifier). FAILED_PRECONDITION names what does not follow.
absl::StatusOr<v1::EventBatch> FollowChain(const v1::SignedEventBatch& next,
                                           ChainHead* head);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_SUBSCRIPTION_CHAIN_H_
