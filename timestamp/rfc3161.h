// RFC 3161 time-stamping, the standard's own formats, so that `openssl ts
// -verify` (or any RFC 3161 verifier) checks what dxgate keeps: a
// TimeStampReq for a SHA-256 digest, and the checks of a TimeStampResp
// against its request (status granted, imprint, nonce, signature, the
// authority's certificate chaining to the configured roots with the
// critical timeStamping key usage) and of a stored token against the
// digest it stamps. Used to time-stamp signed tree heads (docs/AUDIT.md):
// independent evidence of when a head existed. Pure functions; thread-safe.
#ifndef DX_TIMESTAMP_RFC3161_H_
#define DX_TIMESTAMP_RFC3161_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dx::timestamp {

// A DER TimeStampReq (RFC 3161 2.4.1): version 1, SHA-256 imprint of
// `sha256_digest` (32 bytes), `nonce`, certReq true (the token carries the
// authority's certificate, so it verifies with the roots alone).
absl::StatusOr<std::string> MakeRequest(absl::string_view sha256_digest,
                                        uint64_t nonce);

// What a verified token says.
struct Token {
  std::string der;         // the TimeStampToken (CMS SignedData), DER
  absl::Time time;         // genTime: when the authority stamped it
  std::string serial_hex;  // the authority's serial number of the token
  std::string policy_oid;  // the authority's policy, dotted
};

// Checks a DER TimeStampResp against the DER request it answers, with the
// authority's roots (PEM, one or more certificates). Any failure is
// FAILED_PRECONDITION (not granted, or a check failed) or INVALID_ARGUMENT
// (not DER of the right type), with what failed.
absl::StatusOr<Token> VerifyResponse(absl::string_view response_der,
                                     absl::string_view request_der,
                                     absl::string_view roots_pem);

// Checks a stored DER TimeStampToken against the digest it must stamp.
absl::StatusOr<Token> VerifyToken(absl::string_view token_der,
                                  absl::string_view sha256_digest,
                                  absl::string_view roots_pem);

}  // namespace dx::timestamp

#endif  // DX_TIMESTAMP_RFC3161_H_
