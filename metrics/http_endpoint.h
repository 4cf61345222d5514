// HttpEndpoint: the plain-HTTP port an operator's tools read: /metrics in
// Prometheus's text format and /healthz (200 SERVING, or 503 with the
// reason) for load balancers and probes. Served by dx::http::Server, the
// one HTTP server of the project (docs/CONSOLE.md, "The edge", says why and
// what it bounds), with one worker, GET only, no body, short deadlines
// and few connections. Bind it to a
// management interface: it has no TLS and no authentication, and shows
// nothing but counts.
#ifndef DX_METRICS_HTTP_ENDPOINT_H_
#define DX_METRICS_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dx::http {
class Server;
}

namespace dx::metrics {

class HttpEndpoint {
 public:
  struct Options {
    // host:port; port 0 picks a free one (see port()).
    std::string listen_address;
    // The body of /metrics.
    std::function<std::string()> metrics;
    // OK: serving; otherwise the reason it is not. Null: always serving.
    std::function<absl::Status()> health;
  };
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(Options options);
  // Stops serving and joins the server thread.
  ~HttpEndpoint();

  int port() const { return port_; }

 private:
  explicit HttpEndpoint(Options options);

  const Options options_;
  std::unique_ptr<http::Server> server_;
  int port_ = 0;
};

}  // namespace dx::metrics

#endif  // DX_METRICS_HTTP_ENDPOINT_H_
