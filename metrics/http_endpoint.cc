#include "metrics/http_endpoint.h"

#include "absl/strings/str_cat.h"
#include "http/server.h"

namespace dx::metrics {

HttpEndpoint::HttpEndpoint(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(
    Options options) {
  std::unique_ptr<HttpEndpoint> e(new HttpEndpoint(std::move(options)));
  const Options* opts = &e->options_;
  http::Server::Options o;
  o.listen_address = opts->listen_address;
  o.name = "metrics";
  // Scrapes and probes are few and small: one worker, no request bodies,
  // short deadlines, and few connections from one address.
  o.limits.max_body_bytes = 4096;
  o.limits.max_header_bytes = 8 << 10;
  o.limits.max_connections = 64;
  o.limits.max_connections_per_address = 16;
  o.limits.request_timeout = absl::Seconds(5);
  o.limits.write_timeout = absl::Seconds(5);
  o.limits.workers = 1;
  o.limits.max_queued = 16;
  o.handler = [opts](const http::Request& req, http::Response& res) {
    if (req.method != "GET") {
      res.status = 405;
      res.SetHeader("Allow", "GET");
      res.SetContent("GET only\n", "text/plain; charset=utf-8");
    } else if (req.path == "/metrics") {
      res.SetContent(opts->metrics ? opts->metrics() : std::string(),
                     "text/plain; version=0.0.4; charset=utf-8");
    } else if (req.path == "/healthz") {
      const absl::Status why = opts->health ? opts->health() : absl::OkStatus();
      res.status = why.ok() ? 200 : 503;
      res.SetContent(why.ok()
                         ? std::string("SERVING\n")
                         : absl::StrCat("NOT_SERVING: ", why.message(), "\n"),
                     "text/plain; charset=utf-8");
    } else {
      res.status = 404;
      res.SetContent("not found: /metrics and /healthz are served\n",
                     "text/plain; charset=utf-8");
    }
  };
  auto server = http::Server::Start(std::move(o));
  if (!server.ok()) return server.status();
  e->server_ = *std::move(server);
  e->port_ = e->server_->port();
  return e;
}

HttpEndpoint::~HttpEndpoint() = default;

}  // namespace dx::metrics
