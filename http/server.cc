// The Beast-based implementation of dx::http::Server (server.h): one I/O
// thread runs every connection's reads and writes; a few worker threads
// run the handler. Each connection is a shared object kept alive by the
// operation pending on it; counts of open connections per address are
// taken at accept and given back when the connection object goes.
#include "http/server.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <deque>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "http/internal/work_queue.h"
#include "http/live_servers.h"

namespace dx::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// After an answer that ends a connection whose request was not read to its
// end (413, 431), the client may still be sending: closing at once with
// unread bytes makes the kernel send a reset, and the client may lose the
// answer. So a little more is read and dropped, then the socket closes.
constexpr size_t kDrainBytes = 256 << 10;
constexpr auto kDrainTime = std::chrono::seconds(1);

std::string PeerCertificatePem(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return "";
  std::string pem;
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio != nullptr && PEM_write_bio_X509(bio, cert) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0) pem.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  X509_free(cert);
  return pem;
}

}  // namespace

struct Server::Impl {
  explicit Impl(Options o)
      : options(std::move(o)),
        queue(options.limits.workers, options.limits.max_queued) {}

  // Whether a connection from `address` may open; if so it is counted.
  bool Admit(const std::string& address) {
    absl::MutexLock lock(&mu);
    int& n = per_address[address];
    if (open >= options.limits.max_connections ||
        n >= options.limits.max_connections_per_address) {
      if (n == 0) per_address.erase(address);
      return false;
    }
    ++n;
    ++open;
    return true;
  }
  void Release(const std::string& address) {
    absl::MutexLock lock(&mu);
    --open;
    auto it = per_address.find(address);
    if (it != per_address.end() && --it->second <= 0) per_address.erase(it);
  }

  void Accept();

  const Options options;
  absl::Mutex mu;
  int open ABSL_GUARDED_BY(mu) = 0;
  absl::flat_hash_map<std::string, int> per_address ABSL_GUARDED_BY(mu);
  std::atomic<uint64_t> refused{0}, too_large{0}, timed_out{0}, overloaded{0};
  std::atomic<bool> stopped{false};
  internal::WorkQueue
      queue;  // its workers post into ioc: joined before it goes
  std::optional<asio::ssl::context> ssl;
  // Declared after what connections use: destroying it destroys them.
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer retry{ioc};
  std::thread io_thread;
};

namespace {

template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(Server::Impl* impl, Stream stream, std::string address)
      : impl_(impl),
        limits_(impl->options.limits),
        stream_(std::move(stream)),
        buffer_(limits_.max_header_bytes + 4096),
        address_(std::move(address)) {}
  ~Connection() { impl_->Release(address_); }

  void Start() {
    Socket().expires_after(absl::ToChronoNanoseconds(limits_.request_timeout));
    if constexpr (kTls) {
      stream_.async_handshake(
          asio::ssl::stream_base::server,
          [self = this->shared_from_this()](beast::error_code ec) {
            if (ec) {
              if (ec == beast::error::timeout) ++self->impl_->timed_out;
              return;  // the connection goes with self
            }
            self->ReadHeader();
          });
    } else {
      ReadHeader();
    }
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& Socket() { return beast::get_lowest_layer(stream_); }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(limits_.max_header_bytes));
    body_limit_ = limits_.max_body_bytes;
    parser_->body_limit(body_limit_);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) {
          self->OnHeader(ec);
        });
  }

  // An error of the request: answered (and the connection ended) or just
  // ended. True when there was one.
  bool Failed(beast::error_code ec) {
    if (!ec) return false;
    if (ec == bhttp::error::header_limit ||
        ec == bhttp::error::buffer_overflow) {
      ++impl_->too_large;
      Refuse(431, absl::StrCat("the request's headers are over ",
                               limits_.max_header_bytes, " bytes"));
    } else if (ec == bhttp::error::body_limit) {
      ++impl_->too_large;
      Refuse(413, absl::StrCat("the request's body is over ", body_limit_,
                               " bytes"));
    } else if (ec == beast::error::timeout) {
      ++impl_->timed_out;  // slow or idle: just closed
    } else if (ec.category() ==
                   beast::error_code(bhttp::error::end_of_stream).category() &&
               ec != bhttp::error::end_of_stream &&
               ec != bhttp::error::partial_message) {
      Refuse(400,
             absl::StrCat("the request is not valid HTTP/1.1: ", ec.message()));
    }
    return true;
  }

  void OnHeader(beast::error_code ec) {
    if (Failed(ec)) return;
    const auto& h = parser_->get();
    if (static_cast<size_t>(std::distance(h.begin(), h.end())) >
        limits_.max_header_lines) {
      ++impl_->too_large;
      Refuse(431, absl::StrCat("the request has over ",
                               limits_.max_header_lines, " header lines"));
      return;
    }
    if (impl_->options.body_limit && !parser_->is_done()) {
      body_limit_ =
          std::min(limits_.max_body_bytes, impl_->options.body_limit(Head()));
      const auto declared = parser_->content_length();
      if (declared.has_value() && *declared > body_limit_) {
        Failed(bhttp::error::body_limit);
        return;
      }
      parser_->body_limit(body_limit_);  // before any body byte: allowed
    }
    if (parser_->is_done()) {
      Dispatch();
      return;
    }
    // A client that waits for leave to send its body (curl does, past
    // 1 KiB) gets it at once rather than after its own timeout.
    if (absl::EqualsIgnoreCase(
            absl::string_view(h[bhttp::field::expect].data(),
                              h[bhttp::field::expect].size()),
            "100-continue")) {
      continue_.emplace(bhttp::status::continue_, h.version());
      bhttp::async_write(
          stream_, *continue_,
          [self = this->shared_from_this()](beast::error_code ec, size_t) {
            self->continue_.reset();
            if (!ec) self->ReadBody();
          });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) {
          if (!self->Failed(ec)) self->Dispatch();
        });
  }

  // The request as read so far, without its body.
  Request Head() {
    auto& m = parser_->get();
    Request req;
    req.method = std::string(m.method_string());
    req.target = std::string(m.target());
    req.path = req.target.substr(0, req.target.find('?'));
    for (const auto& f : m) {
      req.headers.emplace_back(std::string(f.name_string()),
                               std::string(f.value()));
    }
    req.remote_address = address_;
    return req;
  }

  void Dispatch() {
    auto& m = parser_->get();
    Request req = Head();
    req.body = std::move(m.body());
    if constexpr (kTls) {
      req.peer_certificate_pem = PeerCertificatePem(stream_.native_handle());
    }
    keep_alive_ = m.keep_alive();
    parser_.reset();
    Server::Impl* impl = impl_;
    const bool queued =
        impl->queue.TryPush([self = this->shared_from_this(), impl,
                             req = std::move(req)]() mutable {
          Response res;
          impl->options.handler(req, res);
          asio::post(impl->ioc,
                     [self = std::move(self), res = std::move(res)]() mutable {
                       self->Write(std::move(res), false);
                     });
        });
    if (!queued) {
      ++impl->overloaded;
      Response res;
      res.status = 503;
      res.SetHeader("Retry-After", "1");
      res.SetContent("busy: try again in a second\n",
                     "text/plain; charset=utf-8");
      Write(std::move(res), true);
    }
  }

  // Answers and ends the connection, without reading the rest.
  void Refuse(int status, std::string why) {
    Response res;
    res.status = status;
    res.SetContent(why + "\n", "text/plain; charset=utf-8");
    Write(std::move(res), true);
  }

  void Write(Response r, bool close) {
    if (impl_->stopped.load()) return;
    closing_ = close || !keep_alive_;
    res_.emplace();
    res_->version(11);
    res_->result(static_cast<unsigned>(r.status));
    for (auto& [k, v] : r.headers) res_->set(k, v);
    res_->body() = std::move(r.body);
    res_->keep_alive(!closing_);
    res_->prepare_payload();
    Socket().expires_after(absl::ToChronoNanoseconds(limits_.write_timeout));
    bhttp::async_write(stream_, *res_,
                       [self = this->shared_from_this(), unread = close](
                           beast::error_code ec, size_t) {
                         self->res_.reset();
                         if (ec) return;
                         if (self->closing_) {
                           self->Close(unread);
                           return;
                         }
                         self->Socket().expires_after(absl::ToChronoNanoseconds(
                             self->limits_.request_timeout));
                         self->ReadHeader();
                       });
  }

  void Close(bool unread) {
    beast::error_code ignored;
    Socket().socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (!unread) return;  // the last reference goes: closed
    drained_ = 0;
    Socket().expires_after(kDrainTime);
    Drain();
  }

  void Drain() {
    Socket().async_read_some(
        asio::buffer(drain_buffer_),
        [self = this->shared_from_this()](beast::error_code ec, size_t n) {
          self->drained_ += n;
          if (!ec && self->drained_ < kDrainBytes) self->Drain();
        });
  }

  Server::Impl* const impl_;
  const Limits& limits_;
  Stream stream_;
  beast::flat_buffer buffer_;
  const std::string address_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> res_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  size_t body_limit_ = 0;
  bool keep_alive_ = false;
  bool closing_ = false;
  size_t drained_ = 0;
  std::array<char, 16 << 10> drain_buffer_;
};

}  // namespace

void Server::Impl::Accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopped.load() || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors, most likely: try again shortly rather than
      // spin.
      retry.expires_after(std::chrono::milliseconds(50));
      retry.async_wait([this](beast::error_code e) {
        if (!e) Accept();
      });
      return;
    }
    beast::error_code peer_ec;
    const tcp::endpoint peer = socket.remote_endpoint(peer_ec);
    std::string address = peer_ec ? "unknown" : peer.address().to_string();
    if (!Admit(address)) {
      ++refused;
      // Closed at once: a reset rather than a queue.
      socket.set_option(asio::socket_base::linger(true, 0), peer_ec);
    } else {
      socket.set_option(tcp::no_delay(true), peer_ec);
      if (ssl.has_value()) {
        std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(
            this, beast::ssl_stream<beast::tcp_stream>(std::move(socket), *ssl),
            std::move(address))
            ->Start();
      } else {
        std::make_shared<Connection<beast::tcp_stream>>(
            this, beast::tcp_stream(std::move(socket)), std::move(address))
            ->Start();
      }
    }
    Accept();
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(Options options) {
  const std::string address = options.listen_address;
  const std::string name = options.name.empty() ? "http" : options.name;
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " listen_address '", address,
        "' is not host:port (e.g. 127.0.0.1:", name == "console" ? 8444 : 9464,
        ")"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!options.handler) {
    return absl::InvalidArgumentError("an HTTP server needs a handler");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  if (impl->options.tls) {
    impl->ssl.emplace(asio::ssl::context::tls_server);
    if (absl::Status s = impl->options.tls(impl->ssl->native_handle());
        !s.ok()) {
      return s;
    }
  }
  beast::error_code ec;
  tcp::resolver resolver(impl->ioc);
  auto endpoints =
      resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  const auto cannot = [&](const beast::error_code& e) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for the ", name, " on ", address, " (", e.message(),
        ": address in use, or not an address of this host)"));
  };
  if (ec || endpoints.empty()) return cannot(ec);
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  tcp::acceptor& a = impl->acceptor;
  a.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only (no SO_REUSEPORT): a second process on the same
  // port fails to start rather than share it.
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return cannot(ec);
  impl->Accept();
  Impl* raw = impl.get();
  impl->io_thread = std::thread([raw] { raw->ioc.run(); });
  std::unique_ptr<Server> server(new Server(std::move(impl)));
  internal::AddLiveServer(server.get());  // for dx_http_refused_total
  return server;
}

void Server::Stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->ioc.stop();
  if (impl_->io_thread.joinable()) impl_->io_thread.join();
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->queue.Stop();
}

Server::~Server() {
  internal::RemoveLiveServer(this);
  Stop();
  // The workers post into the io_context: they end before it goes (and
  // with it every connection).
  impl_->queue.Join();
  impl_.reset();
}

const std::string& Server::name() const { return impl_->options.name; }

int Server::port() const { return impl_->acceptor.local_endpoint().port(); }

Server::Counts Server::counts() const {
  Counts c;
  c.connections_refused = impl_->refused.load();
  c.requests_too_large = impl_->too_large.load();
  c.requests_timed_out = impl_->timed_out.load();
  c.requests_overloaded = impl_->overloaded.load();
  return c;
}

}  // namespace dx::http
