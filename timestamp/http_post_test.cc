// The HTTP client against a scripted loopback server playing a broken or
// hostile authority: a huge reply (declared, or streamed without end), a
// reply that never comes, the wrong status or type, headers without end;
// and an honest one (plain and chunked). Each must end in a bounded time
// and memory with a status that names what went wrong.
#include "timestamp/http_post.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace dx::timestamp {
namespace {

// Accepts connections on a loopback port; reads each request's headers
// and body, then hands the socket to `respond`.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(int fd)> respond)
      : respond_(std::move(respond)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(listener_, 4);
    socklen_t len = sizeof(a);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    done_.Notify();
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  std::string url() const {
    return absl::StrCat("http://127.0.0.1:", port_, "/tsa");
  }
  const std::string& request() const { return request_; }
  // Released at destruction: a script may wait on it (a reply never sent).
  absl::Notification& done() { return done_; }

 private:
  void Serve() {
    const int fd = ::accept(listener_, nullptr, nullptr);
    if (fd < 0) return;
    char buf[4096];
    while (!absl::StrContains(request_, "\r\n\r\n") ||
           request_.size() < request_.find("\r\n\r\n") + 4 + BodyLength()) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      request_.append(buf, static_cast<size_t>(n));
    }
    respond_(fd);
    ::close(fd);
  }
  size_t BodyLength() const {
    const size_t at = request_.find("Content-Length: ");
    return at == std::string::npos ? 0 : std::stoul(request_.substr(at + 16));
  }

  std::function<void(int)> respond_;
  int listener_ = -1;
  int port_ = 0;
  std::string request_;
  absl::Notification done_;
  std::thread thread_;
};

void Send(int fd, const std::string& data) {
  (void)::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
}

HttpPostOptions Options(const ScriptedServer& s) {
  HttpPostOptions o;
  o.url = s.url();
  o.timeout = absl::Seconds(5);
  o.max_body_bytes = 1024;
  return o;
}

TEST(HttpPostTest, AnHonestReplyIsReturnedAndTheQueryIsWellFormed) {
  ScriptedServer server([](int fd) {
    Send(fd,
         "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n"
         "Content-Length: 5\r\n\r\nREPLY");
  });
  auto body = PostTimestampQuery(Options(server), "QUERY");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "REPLY");
  EXPECT_TRUE(absl::StartsWith(server.request(), "POST /tsa HTTP/1.1\r\n"));
  EXPECT_TRUE(absl::StrContains(server.request(),
                                "Content-Type: application/timestamp-query"));
  EXPECT_TRUE(absl::EndsWith(server.request(), "\r\n\r\nQUERY"));
}

TEST(HttpPostTest, AChunkedReplyIsJoined) {
  ScriptedServer server([](int fd) {
    Send(fd,
         "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n"
         "Transfer-Encoding: "
         "chunked\r\n\r\n3\r\nREP\r\n2;x=y\r\nLY\r\n0\r\n\r\n");
  });
  auto body = PostTimestampQuery(Options(server), "Q");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "REPLY");
}

TEST(HttpPostTest, AHugeDeclaredReplyIsRefusedUnread) {
  ScriptedServer server([](int fd) {
    Send(fd,
         "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n"
         "Content-Length: 1000000000\r\n\r\n");
    Send(fd, std::string(64 * 1024, 'x'));
  });
  auto body = PostTimestampQuery(Options(server), "Q");
  EXPECT_EQ(body.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(body.status().message(), "max_reply_bytes"))
      << body.status();
}

TEST(HttpPostTest, AnEndlessReplyIsCutAtTheBound) {
  std::atomic<size_t> sent{0};
  ScriptedServer server([&sent](int fd) {
    Send(fd,
         "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n"
         "\r\n");
    const std::string block(4096, 'x');
    // Until the client hangs up (or far past any bound).
    while (sent < (size_t{64} << 20)) {
      const ssize_t n = ::send(fd, block.data(), block.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
  });
  auto body = PostTimestampQuery(Options(server), "Q");
  EXPECT_EQ(body.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(body.status().message(), "max_reply_bytes"))
      << body.status();
}

TEST(HttpPostTest, EndlessHeadersAreRefused) {
  ScriptedServer server([](int fd) {
    Send(fd, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 2000; ++i) Send(fd, "X-Filler: aaaaaaaaaaaaaaaa\r\n");
  });
  auto body = PostTimestampQuery(Options(server), "Q");
  EXPECT_EQ(body.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(body.status().message(), "headers exceed"))
      << body.status();
}

TEST(HttpPostTest, AReplyThatNeverComesTimesOut) {
  ScriptedServer* self = nullptr;
  ScriptedServer server([&self](int) { self->done().WaitForNotification(); });
  self = &server;
  HttpPostOptions o = Options(server);
  o.timeout = absl::Milliseconds(200);
  auto body = PostTimestampQuery(o, "Q");
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(body.status().message(), "timeout_ms"))
      << body.status();
}

TEST(HttpPostTest, TheWrongStatusOrTypeIsNamed) {
  {
    ScriptedServer server([](int fd) {
      Send(fd, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
    });
    auto body = PostTimestampQuery(Options(server), "Q");
    EXPECT_TRUE(absl::StrContains(body.status().message(), "HTTP 500"))
        << body.status();
  }
  {
    ScriptedServer server([](int fd) {
      Send(fd,
           "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
           "Content-Length: 2\r\n\r\nhi");
    });
    auto body = PostTimestampQuery(Options(server), "Q");
    EXPECT_TRUE(absl::StrContains(body.status().message(), "text/html"))
        << body.status();
  }
}

TEST(HttpPostTest, NoAuthorityOrABadUrlIsNamed) {
  // A port nobody listens on (bound, then closed).
  int port = 0;
  {
    ScriptedServer gone([](int) {});
    port = std::stoi(gone.url().substr(17));
    (void)PostTimestampQuery(Options(gone), "Q");
  }
  HttpPostOptions o;
  o.url = absl::StrCat("http://127.0.0.1:", port, "/");
  o.timeout = absl::Seconds(2);
  EXPECT_EQ(PostTimestampQuery(o, "Q").status().code(),
            absl::StatusCode::kUnavailable);
  for (const char* bad :
       {"ftp://x/", "http://", "http://h:99999/", "http://h/a b"}) {
    o.url = bad;
    EXPECT_EQ(PostTimestampQuery(o, "Q").status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

// https://: the server's certificate must chain to the given roots and
// name the host of the URL; a server under other roots (a stranger on the
// path) is refused before anything is sent.
class HttpsPostTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/dx-https-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    for (const char* name : {"server", "other"}) {
      ASSERT_EQ(
          std::system(absl::StrCat("cd ", *dir_, " && openssl req -x509 ", ec,
                                   " -keyout ", name, ".key -out ", name,
                                   ".pem -days 2 -subj /CN=127.0.0.1",
                                   " -addext subjectAltName=IP:127.0.0.1",
                                   " >/dev/null 2>&1")
                          .c_str()),
          0);
    }
  }
  static void TearDownTestSuite() {
    (void)std::system(("rm -rf " + *dir_).c_str());
    delete dir_;
  }
  static std::string Read(const std::string& name) {
    std::ifstream f(*dir_ + "/" + name);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  // A TLS server with server.pem that answers one honest reply.
  static std::function<void(int)> TlsReply(std::atomic<bool>* answered) {
    return [answered](int fd) {
      SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
      SSL_CTX_use_certificate_file(ctx, (*dir_ + "/server.pem").c_str(),
                                   SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(ctx, (*dir_ + "/server.key").c_str(),
                                  SSL_FILETYPE_PEM);
      SSL* ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        char buf[4096];
        std::string got;
        while (!absl::StrContains(got, "\r\n\r\nQ")) {
          const int n = SSL_read(ssl, buf, sizeof(buf));
          if (n <= 0) break;
          got.append(buf, static_cast<size_t>(n));
        }
        const std::string reply =
            "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n"
            "Content-Length: 5\r\n\r\nREPLY";
        SSL_write(ssl, reply.data(), static_cast<int>(reply.size()));
        SSL_shutdown(ssl);
        *answered = true;
      }
      ERR_clear_error();
      SSL_free(ssl);
      SSL_CTX_free(ctx);
    };
  }
  static std::string* dir_;
};
std::string* HttpsPostTest::dir_ = nullptr;

// The scripted server reads a plain request first: TLS servers read their
// own, so they take the raw socket at once.
class RawServer {
 public:
  explicit RawServer(std::function<void(int)> serve)
      : serve_(std::move(serve)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(listener_, 4);
    socklen_t len = sizeof(a);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      serve_(fd);
      ::close(fd);
    });
  }
  ~RawServer() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  int port() const { return port_; }

 private:
  std::function<void(int)> serve_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(HttpsPostTest, AServerUnderTheRootsIsAnswered) {
  std::atomic<bool> answered{false};
  RawServer server(TlsReply(&answered));
  HttpPostOptions o;
  o.url = absl::StrCat("https://127.0.0.1:", server.port(), "/tsa");
  o.tls_roots_pem = Read("server.pem");
  o.timeout = absl::Seconds(5);
  auto body = PostTimestampQuery(o, "Q");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "REPLY");
}

TEST_F(HttpsPostTest, AServerUnderOtherRootsIsRefused) {
  std::atomic<bool> answered{false};
  RawServer server(TlsReply(&answered));
  HttpPostOptions o;
  o.url = absl::StrCat("https://127.0.0.1:", server.port(), "/tsa");
  o.tls_roots_pem = Read("other.pem");
  o.timeout = absl::Seconds(5);
  auto body = PostTimestampQuery(o, "Q");
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(body.status().message(), "does not verify"))
      << body.status();
  EXPECT_FALSE(answered);
}

}  // namespace
}  // namespace dx::timestamp
