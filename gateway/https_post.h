// One HTTPS POST made by a gateway duty (the statistics push, the witness
// submitter): https only, no redirect followed, certificates and names
// verified, the answer's size bounded while it arrives. On libcurl.
#ifndef DX_GATEWAY_HTTPS_POST_H_
#define DX_GATEWAY_HTTPS_POST_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace dx::gateway {

struct HttpsPostRequest {
  std::string url;
  std::string content_type;
  std::string body;
  std::string ca_file;              // empty: the system's trust anchors
  std::string cert_file, key_file;  // a client certificate, optional
  int timeout_seconds = 10;
  size_t max_answer_bytes = 64 * 1024;
};

struct HttpsPostAnswer {
  long status = 0;
  std::string body;
  std::string content_type;
};

// The answer, whatever its HTTP status; UNAVAILABLE, naming the URL, when
// there is none (not https, unreachable, a certificate that does not
// verify, the timeout, an answer past max_answer_bytes).
absl::StatusOr<HttpsPostAnswer> HttpsPostOnce(const HttpsPostRequest& request);

// libcurl's global set-up, which is not thread-safe: call it before the
// thread that posts starts. Idempotent.
void InitHttpsPost();

}  // namespace dx::gateway

#endif  // DX_GATEWAY_HTTPS_POST_H_
