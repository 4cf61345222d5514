// A minimal HTTP/1.1 client for RFC 3161 authorities (RFC 3161 3.4): one
// POST of a DER TimeStampReq as application/timestamp-query, one
// application/timestamp-reply back. Bounded in every way an authority
// could abuse: one deadline for the whole exchange (resolving excepted:
// getaddrinfo has none, so use an address or a resolver you trust),
// header and body sizes, and "Connection: close" so nothing lingers.
// https:// verifies the server's certificate and name against the given
// roots (OpenSSL). Blocking: call it from a background thread, never from
// an exchange's. Thread-safe (no shared state).
#ifndef DX_TIMESTAMP_HTTP_POST_H_
#define DX_TIMESTAMP_HTTP_POST_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dx::timestamp {

struct HttpPostOptions {
  // http://host[:port]/path or https://host[:port]/path.
  std::string url;
  // PEM roots for an https:// server's certificate.
  std::string tls_roots_pem;
  absl::Duration timeout = absl::Seconds(10);
  // Bodies larger than this are refused (and not read further).
  size_t max_body_bytes = 64 * 1024;
};

// Posts `query` and returns the reply's body. UNAVAILABLE when the
// authority cannot be reached or does not answer in time (name what
// failed); FAILED_PRECONDITION when it answers something that is not a
// 200 application/timestamp-reply within the bounds; INVALID_ARGUMENT
// for a malformed URL.
absl::StatusOr<std::string> PostTimestampQuery(const HttpPostOptions& options,
                                               absl::string_view query);

}  // namespace dx::timestamp

#endif  // DX_TIMESTAMP_HTTP_POST_H_
