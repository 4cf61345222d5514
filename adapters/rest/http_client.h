// HttpClient: the provider-facing HTTP(S) client of dx-rest-adapter, on
// libcurl. Certificates and host names are always verified; redirects are
// never followed (a service that redirects is answered as misconfigured,
// so no request goes to a host nobody configured); the answer's size is
// capped while it arrives; a cancelled call aborts the transfer.
// Connections, DNS and TLS sessions are shared across calls. Thread-safe.
#ifndef DX_ADAPTERS_REST_HTTP_CLIENT_H_
#define DX_ADAPTERS_REST_HTTP_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dx::adapters {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::string body;                  // POST: JSON
  std::vector<std::string> headers;  // "Name: value"
  absl::Duration timeout = absl::Seconds(10);
  uint64_t max_response_bytes = 8 << 20;
  std::function<bool()> cancelled = [] { return false; };
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::string location;  // of a redirect
};

class HttpClient {
 public:
  struct Options {
    std::string ca_file;    // empty: the system's trust anchors
    std::string cert_file;  // client certificate, optional
    std::string key_file;
  };
  explicit HttpClient(Options options);
  ~HttpClient();

  // The answer, whatever its HTTP status. DEADLINE_EXCEEDED at the timeout;
  // CANCELLED when `cancelled` said so; UNAVAILABLE when the service cannot
  // be reached or its certificate does not verify; FAILED_PRECONDITION past
  // max_response_bytes; each saying which URL (without its query).
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) const;

 private:
  struct Shared;
  const Options options_;
  std::unique_ptr<Shared> shared_;
};

// Once per process, before any thread starts (libcurl's global init).
void InitHttpClientLibrary();

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_REST_HTTP_CLIENT_H_
