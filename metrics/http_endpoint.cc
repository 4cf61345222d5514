#include "metrics/http_endpoint.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dx::metrics {

HttpEndpoint::HttpEndpoint(Options options)
    : options_(std::move(options)),
      server_(std::make_unique<httplib::Server>()) {}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(
    Options options) {
  const std::string address = options.listen_address;
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics listen_address '", address,
                     "' is not host:port (e.g. 127.0.0.1:9464)"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::unique_ptr<HttpEndpoint> e(new HttpEndpoint(std::move(options)));
  httplib::Server& s = *e->server_;
  // Scrapes and probes are few: two threads, no request bodies.
  s.new_task_queue = [] { return new httplib::ThreadPool(2); };
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_payload_max_length(4096);
  s.set_tcp_nodelay(true);  // headers and body are separate writes
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a
  // second process would share the port instead of failing to start.
  s.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const Options* opts = &e->options_;
  s.Get("/metrics", [opts](const httplib::Request&, httplib::Response& res) {
    res.set_content(opts->metrics ? opts->metrics() : std::string(),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/healthz", [opts](const httplib::Request&, httplib::Response& res) {
    const absl::Status why = opts->health ? opts->health() : absl::OkStatus();
    res.status = why.ok() ? 200 : 503;
    res.set_content(why.ok()
                        ? std::string("SERVING\n")
                        : absl::StrCat("NOT_SERVING: ", why.message(), "\n"),
                    "text/plain; charset=utf-8");
  });
  e->port_ = port == 0 ? s.bind_to_any_port(host)
                       : (s.bind_to_port(host, port) ? port : -1);
  if (e->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for metrics on ", address,
                     " (address in use, or not an address of this host)"));
  }
  e->thread_ = std::thread([&s, done = &e->done_] {
    s.listen_after_bind();
    done->store(true);
  });
  return e;
}

HttpEndpoint::~HttpEndpoint() {
  // stop() does nothing before the loop runs: repeat it until it ends.
  while (thread_.joinable() && !done_.load()) {
    server_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace dx::metrics
