// dx::http::Server: the one HTTP/1.1 server of dxgate, behind the web
// console (HTTPS) and every metrics/health port (plain HTTP). It is an
// edge: anyone who reaches the port may be hostile, and the process it
// runs in is the gateway's. So every resource a client can make it spend
// is bounded (docs/CONSOLE.md, "The edge"):
//   - header bytes and header lines (431), the body in any encoding,
//     chunked included (413 as soon as it passes the limit; the rest is
//     not read), so memory per connection is bounded;
//   - connections in total and per client address (refused past either:
//     closed at once, never queued);
//   - time: one deadline per request, from the first wait for it to its
//     last byte (idle keep-alive, slow headers, slow bodies alike), and one
//     per write;
//   - handler work runs on a few worker threads fed by a bounded queue
//     (503 when it is full), never on the I/O thread, so a slow handler
//     delays only its own client;
//   - Range is not implemented: an answer is always the whole body once.
// Built on Boost.Beast (docs/CONSOLE.md says why), which this header does
// not include: callers see only these plain types.
//
// Thread-safety: Start and the destructor from one thread; the handler is
// called on the worker threads, concurrently.
#ifndef DX_HTTP_SERVER_H_
#define DX_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace dx::http {

struct Request {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // path and query, as sent
  std::string path;    // the target up to '?'
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;  // the client's IP address
  // TLS only: the client certificate the browser presented (PEM; not
  // verified: the handler decides), or "".
  std::string peer_certificate_pem;

  // The first header of that name (case-insensitive), or "".
  std::string Header(absl::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Replaces any header of that name.
  void SetHeader(absl::string_view name, std::string value);
  void SetContent(std::string content, absl::string_view content_type) {
    body = std::move(content);
    SetHeader("Content-Type", std::string(content_type));
  }
};

using Handler = std::function<void(const Request&, Response&)>;

struct Limits {
  size_t max_header_bytes = 16 << 10;  // request line and headers
  size_t max_header_lines = 100;
  size_t max_body_bytes = 2 << 20;
  int max_connections = 256;
  int max_connections_per_address = 32;
  // From the moment the server waits for a request (a new connection's TLS
  // handshake, or the next request of a kept-alive one) to its last byte.
  absl::Duration request_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(10);
  int workers = 4;
  size_t max_queued = 64;  // requests waiting for a worker
};

class Server {
 public:
  struct Options {
    std::string listen_address;  // host:port ([v6]:port); port 0 picks one
    std::string name;            // for messages, e.g. "console"
    Limits limits;
    Handler handler;
    // Set for HTTPS: configures the server's SSL_CTX (certificate, client
    // certificates). Unset: plain HTTP.
    std::function<absl::Status(ssl_ctx_st*)> tls;
    // Optional: the body limit of one request, from its head (no body yet),
    // at most limits.max_body_bytes; so that only requests that need a
    // large body (a signed-in person's) may send one, and the memory a
    // stranger's connections hold stays small. Called on the I/O thread:
    // keep it cheap.
    std::function<size_t(const Request& head)> body_limit;
  };

  // What the server refused, for tests and metrics.
  struct Counts {
    uint64_t connections_refused = 0;  // over a connection limit
    uint64_t requests_too_large = 0;   // 413 and 431
    uint64_t requests_timed_out = 0;
    uint64_t requests_overloaded = 0;  // 503: the queue was full
  };

  static absl::StatusOr<std::unique_ptr<Server>> Start(Options options);
  // Stop(), then waits for the handlers under way to return.
  ~Server();

  // Closes the port and every connection at once and drops the requests
  // waiting for a worker; handlers under way keep running (see the
  // destructor). Idempotent.
  void Stop();

  int port() const;
  // Options::name.
  const std::string& name() const;
  Counts counts() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether `json` nests arrays and objects at most `max_depth` deep. A
// linear scan that knows strings and escapes but checks nothing else: run
// it before a parser whose cost grows faster than the nesting.
bool JsonDepthWithin(absl::string_view json, int max_depth);

}  // namespace dx::http

#endif  // DX_HTTP_SERVER_H_
