#include "timestamp/http_post.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace dx::timestamp {
namespace {

// Status line and headers together at most this (an authority's are a
// few hundred bytes).
constexpr size_t kMaxHeaderBytes = 16 * 1024;

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string path;
};

absl::StatusOr<Url> ParseUrl(absl::string_view url) {
  Url u;
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "https://")) {
    u.tls = true;
  } else if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the authority's URL '", url, "' must start with http:// or https://"));
  }
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  u.path =
      slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  absl::string_view port = u.tls ? "443" : "80";
  if (absl::StartsWith(authority, "[")) {  // [IPv6]:port
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("the authority's URL '", url, "' has no closing ]"));
    }
    u.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (absl::ConsumePrefix(&after, ":")) port = after;
  } else {
    const size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port = authority.substr(colon + 1);
  }
  int n = 0;
  if (u.host.empty() || !absl::SimpleAtoi(port, &n) || n <= 0 || n > 65535 ||
      absl::StrContains(u.path, "\r") || absl::StrContains(u.path, "\n") ||
      absl::StrContains(u.path, " ")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the authority's URL '", url, "' is not http(s)://host[:port][/path]"));
  }
  u.port = std::string(port);
  return u;
}

std::string OpensslError() {
  char buf[256] = {0};
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no detail";
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

// One connection, plain or TLS, every step bounded by one deadline.
class Connection {
 public:
  explicit Connection(absl::Time deadline) : deadline_(deadline) {}
  ~Connection() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Connect(const Url& url, const std::string& roots_pem) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc =
        getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found);
    if (rc != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot resolve the authority's host '", url.host,
                       "': ", gai_strerror(rc)));
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(found, freeaddrinfo);
    std::string last = "no address";
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      absl::Status s = ConnectTo(a);
      if (s.ok()) break;
      last = std::string(s.message());
    }
    if (fd_ < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to the authority at ", url.host, ":",
                       url.port, ": ", last));
    }
    if (url.tls) return StartTls(url.host, roots_pem);
    return absl::OkStatus();
  }

  absl::Status WriteAll(absl::string_view data) {
    while (!data.empty()) {
      int n = 0;
      if (ssl_ != nullptr) {
        n = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
        if (n <= 0) {
          const int err = SSL_get_error(ssl_, n);
          if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            if (absl::Status s =
                    Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
                !s.ok()) {
              return s;
            }
            continue;
          }
          return absl::UnavailableError(absl::StrCat(
              "sending to the authority failed: ", OpensslError()));
        }
      } else {
        n = static_cast<int>(
            ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL));
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (absl::Status s = Wait(POLLOUT); !s.ok()) return s;
            continue;
          }
          return absl::UnavailableError(absl::StrCat(
              "sending to the authority failed: ", std::strerror(errno)));
        }
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  // Appends what arrives to `out`, at most `max` bytes; false at the end of
  // the stream.
  absl::StatusOr<bool> Read(std::string* out, size_t max) {
    char buf[4096];
    const size_t want = std::min(sizeof(buf), max);
    for (;;) {
      int n = 0;
      if (ssl_ != nullptr) {
        n = SSL_read(ssl_, buf, static_cast<int>(want));
        if (n <= 0) {
          const int err = SSL_get_error(ssl_, n);
          if (err == SSL_ERROR_ZERO_RETURN) return false;
          if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            if (absl::Status s =
                    Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
                !s.ok()) {
              return s;
            }
            continue;
          }
          // A peer that closes without close_notify: the end, for a reply
          // whose length the headers give (checked by the caller).
          if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_SSL) {
            ERR_clear_error();
            return false;
          }
          return absl::UnavailableError(absl::StrCat(
              "reading the authority's reply failed: ", OpensslError()));
        }
      } else {
        n = static_cast<int>(::recv(fd_, buf, want, 0));
        if (n == 0) return false;
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (absl::Status s = Wait(POLLIN); !s.ok()) return s;
            continue;
          }
          return absl::UnavailableError(absl::StrCat(
              "reading the authority's reply failed: ", std::strerror(errno)));
        }
      }
      out->append(buf, static_cast<size_t>(n));
      return true;
    }
  }

 private:
  absl::Status ConnectTo(addrinfo* a) {
    const int fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 a->ai_protocol);
    if (fd < 0) return absl::UnavailableError(std::strerror(errno));
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return absl::UnavailableError(why);
    }
    fd_ = fd;
    absl::Status s = Wait(POLLOUT);
    int err = 0;
    socklen_t len = sizeof(err);
    if (s.ok() && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
        err == 0) {
      return absl::OkStatus();
    }
    ::close(fd);
    fd_ = -1;
    return s.ok() ? absl::UnavailableError(std::strerror(err)) : s;
  }

  absl::Status StartTls(const std::string& host, const std::string& roots_pem) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr) return absl::InternalError(OpensslError());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
    BIO* bio =
        BIO_new_mem_buf(roots_pem.data(), static_cast<int>(roots_pem.size()));
    int loaded = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      if (X509_STORE_add_cert(store, cert) == 1) ++loaded;
      X509_free(cert);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (loaded == 0) {
      return absl::FailedPreconditionError(
          "no PEM certificate in the authority's TLS roots (tls_ca_file)");
    }
    ssl_ = SSL_new(ctx_);
    if (ssl_ == nullptr) return absl::InternalError(OpensslError());
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    // The name in the URL must be the certificate's (an IP address too).
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      ERR_clear_error();
      SSL_set1_host(ssl_, host.c_str());
    }
    for (;;) {
      const int rc = SSL_connect(ssl_);
      if (rc == 1) return absl::OkStatus();
      const int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (absl::Status s =
                Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
            !s.ok()) {
          return s;
        }
        continue;
      }
      const long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK) {
        return absl::UnavailableError(absl::StrCat(
            "the authority's TLS certificate does not verify against "
            "tls_ca_file for '",
            host, "': ", X509_verify_cert_error_string(verify)));
      }
      return absl::UnavailableError(
          absl::StrCat("TLS with the authority failed: ", OpensslError()));
    }
  }

  absl::Status Wait(short events) {
    for (;;) {
      const absl::Duration left = deadline_ - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::UnavailableError(
            "the authority did not answer within timeout_ms");
      }
      pollfd p{fd_, events, 0};
      const int ms = static_cast<int>(
          std::max<int64_t>(1, absl::ToInt64Milliseconds(left)));
      const int rc = ::poll(&p, 1, ms);
      if (rc > 0) return absl::OkStatus();
      if (rc < 0 && errno != EINTR) {
        return absl::UnavailableError(std::strerror(errno));
      }
    }
  }

  const absl::Time deadline_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

// OpenSSL writes with write(2), which raises SIGPIPE when the authority has
// hung up, and the default action ends the process: held blocked on this
// thread for the request, and a SIGPIPE it raised is taken before the mask
// is restored.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlocked() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1 &&
        sigismember(&old_, SIGPIPE) == 0) {
      const timespec zero{0, 0};
      (void)sigtimedwait(&pipe_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_;
  sigset_t old_;
};

// Joins a chunked body (RFC 9112 7.1), all of it already read.
absl::StatusOr<std::string> Dechunk(absl::string_view in, size_t max) {
  std::string out;
  for (;;) {
    const size_t eol = in.find("\r\n");
    if (eol == absl::string_view::npos) {
      return absl::FailedPreconditionError(
          "the authority's chunked reply is cut short");
    }
    absl::string_view size_text = in.substr(0, eol);
    size_text = size_text.substr(0, size_text.find(';'));
    uint64_t n = 0;
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(size_text), &n)) {
      return absl::FailedPreconditionError(
          "the authority's chunked reply has a malformed chunk size");
    }
    in.remove_prefix(eol + 2);
    if (n == 0) return out;
    if (n > max - out.size() || n + 2 > in.size()) {
      return absl::FailedPreconditionError(
          "the authority's chunked reply is larger than max_reply_bytes or "
          "cut short");
    }
    out.append(in.data(), n);
    in.remove_prefix(n + 2);
  }
}

}  // namespace

absl::StatusOr<std::string> PostTimestampQuery(const HttpPostOptions& options,
                                               absl::string_view query) {
  absl::StatusOr<Url> url = ParseUrl(options.url);
  if (!url.ok()) return url.status();
  SigpipeBlocked no_sigpipe;
  Connection conn(absl::Now() + options.timeout);
  if (absl::Status s = conn.Connect(*url, options.tls_roots_pem); !s.ok())
    return s;
  const bool default_port = url->port == (url->tls ? "443" : "80");
  const std::string host = absl::StrCat(
      absl::StrContains(url->host, ":") ? absl::StrCat("[", url->host, "]")
                                        : url->host,
      default_port ? "" : absl::StrCat(":", url->port));
  const std::string head = absl::StrCat(
      "POST ", url->path, " HTTP/1.1\r\nHost: ", host,
      "\r\nContent-Type: application/timestamp-query\r\n"
      "Accept: application/timestamp-reply\r\nContent-Length: ",
      query.size(), "\r\nConnection: close\r\nUser-Agent: dxgate\r\n\r\n");
  if (absl::Status s = conn.WriteAll(head); !s.ok()) return s;
  if (absl::Status s = conn.WriteAll(query); !s.ok()) return s;

  // Everything, headers then body, up to the bounds.
  std::string raw;
  size_t header_end = std::string::npos;
  bool more = true;
  while (more && header_end == std::string::npos) {
    absl::StatusOr<bool> r = conn.Read(&raw, kMaxHeaderBytes + 1 - raw.size());
    if (!r.ok()) return r.status();
    more = *r;
    header_end = raw.find("\r\n\r\n");
    if (header_end == std::string::npos && raw.size() > kMaxHeaderBytes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the authority's reply headers exceed ", kMaxHeaderBytes, " bytes"));
    }
  }
  if (header_end == std::string::npos) {
    return absl::UnavailableError(
        "the authority closed the connection before its reply's headers ended");
  }
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(raw).substr(0, header_end), "\r\n");
  int code = 0;
  std::vector<absl::string_view> status = absl::StrSplit(lines[0], ' ');
  if (status.size() < 2 || !absl::StartsWith(status[0], "HTTP/1.") ||
      !absl::SimpleAtoi(status[1], &code)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the authority's reply is not HTTP/1.x: '",
                     absl::CEscape(lines[0].substr(0, 80)), "'"));
  }
  std::string type;
  bool chunked = false;
  int64_t length = -1;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    const std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    const absl::string_view value =
        absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (name == "content-type") type = absl::AsciiStrToLower(value);
    if (name == "transfer-encoding") {
      chunked = absl::StrContains(absl::AsciiStrToLower(value), "chunked");
    }
    if (name == "content-length" && !absl::SimpleAtoi(value, &length)) {
      return absl::FailedPreconditionError(
          "the authority's reply has a malformed Content-Length");
    }
  }
  if (chunked) length = -1;  // the framing decides (RFC 9112 6.3)
  if (code != 200) {
    return absl::FailedPreconditionError(
        absl::StrCat("the authority answered HTTP ", code,
                     " (expected 200); check "
                     "audit.timestamping.url"));
  }
  if (!absl::StartsWith(type, "application/timestamp-reply")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the authority answered Content-Type '", type,
        "', not application/timestamp-reply; check audit.timestamping.url"));
  }
  if (length > 0 && static_cast<uint64_t>(length) > options.max_body_bytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the authority's reply of ", length, " bytes exceeds max_reply_bytes (",
        options.max_body_bytes, ")"));
  }
  const size_t body_start = header_end + 4;
  // A chunked body carries its framing too: allow for it within the bound.
  const size_t body_limit =
      chunked ? options.max_body_bytes + options.max_body_bytes / 8 + 1024
              : (length >= 0 ? static_cast<size_t>(length)
                             : options.max_body_bytes);
  while (more && raw.size() - body_start <= body_limit &&
         !(length >= 0 &&
           raw.size() - body_start >= static_cast<size_t>(length))) {
    absl::StatusOr<bool> r = conn.Read(
        &raw, std::max<size_t>(1, body_limit + 1 - (raw.size() - body_start)));
    if (!r.ok()) return r.status();
    more = *r;
  }
  absl::string_view body = absl::string_view(raw).substr(body_start);
  if (!chunked && length >= 0) {
    if (body.size() < static_cast<size_t>(length)) {
      return absl::UnavailableError(
          absl::StrCat("the authority's reply is cut short: ", body.size(),
                       " of ", length, " bytes"));
    }
    return std::string(body.substr(0, static_cast<size_t>(length)));
  }
  if (body.size() > body_limit) {
    return absl::FailedPreconditionError(
        absl::StrCat("the authority's reply exceeds max_reply_bytes (",
                     options.max_body_bytes, ")"));
  }
  if (chunked) return Dechunk(body, options.max_body_bytes);
  return std::string(body);
}

}  // namespace dx::timestamp
