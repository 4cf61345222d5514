// dx::http::Server's limits, each against a real socket on loopback: what a
// hostile client can make it hold is bounded, and a visitor from another
// address is still served meanwhile.
#include "http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace dx::http {
namespace {

// A blocking client socket, from `from` (any 127/8 address is loopback).
int Connect(int port, const char* from = "127.0.0.1") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{30, 0};  // a hang fails the test rather than block it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from, &local.sin_addr);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)), 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  return fd;
}

// Sends what it can; false once the server has stopped reading.
bool Send(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Everything until the server closes (or a reset).
std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, n);
  return out;
}

int StatusOf(absl::string_view answer) {
  int code = 0;
  if (absl::StartsWith(answer, "HTTP/1.1 ") && answer.size() >= 12) {
    code = std::stoi(std::string(answer.substr(9, 3)));
  }
  return code;
}

// One request on its own connection; the answer's status, 0 if none.
int Ask(int port, const std::string& request, const char* from = "127.0.0.1",
        std::string* answer = nullptr) {
  const int fd = Connect(port, from);
  Send(fd, request);
  std::string a = ReadAll(fd);
  close(fd);
  if (answer != nullptr) *answer = a;
  return StatusOf(a);
}

constexpr char kGet[] =
    "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(Limits limits, Handler handler = nullptr) {
    Server::Options o;
    o.listen_address = "127.0.0.1:0";
    o.name = "test";
    o.limits = limits;
    o.handler = handler ? std::move(handler)
                        : [this](const Request& req, Response& res) {
                            ++calls_;
                            res.SetContent(absl::StrCat("body of ", req.path,
                                                        " ", req.body.size()),
                                           "text/plain");
                          };
    auto s = Server::Start(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }
  int port() const { return server_->port(); }

  std::atomic<int> calls_{0};
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, ServesAndKeepsTheConnectionAlive) {
  StartServer({});
  const int fd = Connect(port());
  const std::string one = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n";
  Send(fd, one);
  Send(fd,
       "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
       "Connection: close\r\n\r\nabc");
  const std::string answer = ReadAll(fd);
  close(fd);
  EXPECT_TRUE(absl::StrContains(answer, "body of /a 0")) << answer;
  EXPECT_TRUE(absl::StrContains(answer, "body of /b 3")) << answer;
  EXPECT_EQ(calls_.load(), 2);
}

TEST_F(ServerTest, LetsAClientThatExpectsContinueSendItsBody) {
  StartServer({});
  const int fd = Connect(port());
  Send(fd,
       "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
       "Expect: 100-continue\r\nConnection: close\r\n\r\n");
  char buf[64] = {};
  const ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
  ASSERT_GT(n, 0);
  EXPECT_TRUE(absl::StartsWith(buf, "HTTP/1.1 100 Continue")) << buf;
  Send(fd, "hello");
  const std::string answer = ReadAll(fd);
  close(fd);
  EXPECT_TRUE(absl::StrContains(answer, "body of /c 5")) << answer;
}

TEST_F(ServerTest, RefusesTooManyHeaderLines) {
  Limits l;
  l.max_header_lines = 50;
  StartServer(l);
  std::string req = "GET /x HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 60; ++i) absl::StrAppend(&req, "X-", i, ": 1\r\n");
  EXPECT_EQ(Ask(port(), req + "\r\n"), 431);
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(ServerTest, RefusesHeadersOverTheirSizeWhateverTheirCount) {
  Limits l;
  l.max_header_bytes = 8 << 10;
  StartServer(l);
  // Thousands of lines, sent until the server stops reading.
  const int fd = Connect(port());
  Send(fd, "GET /x HTTP/1.1\r\nHost: t\r\n");
  for (int i = 0; i < 5000; ++i) {
    if (!Send(fd, absl::StrCat("X-", i, ": 1\r\n"))) break;
  }
  const std::string answer = ReadAll(fd);
  close(fd);
  EXPECT_EQ(StatusOf(answer), 431) << answer;
  EXPECT_EQ(calls_.load(), 0);
  EXPECT_GE(server_->counts().requests_too_large, 1u);
}

TEST_F(ServerTest, RefusesAChunkedBodyOnceItPassesTheLimit) {
  Limits l;
  l.max_body_bytes = 64 << 10;
  StartServer(l);
  const int fd = Connect(port());
  Send(fd, "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk =
      absl::StrCat("4000\r\n", std::string(0x4000, 'a'), "\r\n");
  size_t sent = 0;
  // 64 MB offered; the server stops reading soon after 64 KB.
  for (int i = 0; i < 4096; ++i) {
    if (!Send(fd, chunk)) break;
    sent += 0x4000;
  }
  const std::string answer = ReadAll(fd);
  close(fd);
  EXPECT_EQ(StatusOf(answer), 413) << answer.substr(0, 200);
  EXPECT_LT(sent, size_t{16} << 20);
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(ServerTest, RefusesADeclaredBodyOverTheLimitBeforeReadingIt) {
  Limits l;
  l.max_body_bytes = 1024;
  StartServer(l);
  EXPECT_EQ(Ask(port(),
                "POST /x HTTP/1.1\r\nHost: t\r\n"
                "Content-Length: 67108864\r\n\r\n"),
            413);
  EXPECT_EQ(calls_.load(), 0);
}

TEST(ServerBodyLimitTest, AppliesTheLimitItsHookGivesEachRequest) {
  Server::Options o;
  o.listen_address = "127.0.0.1:0";
  o.limits.max_body_bytes = 1 << 20;
  o.handler = [](const Request& req, Response& res) {
    res.SetContent(absl::StrCat(req.body.size()), "text/plain");
  };
  o.body_limit = [](const Request& head) -> size_t {
    return head.Header("X-Big") == "yes" ? size_t{1} << 30 : 100;
  };
  auto s = Server::Start(std::move(o));
  ASSERT_TRUE(s.ok()) << s.status();
  const int port = (*s)->port();
  const std::string body(1000, 'b');
  const auto post = [&](const char* extra, bool chunked) {
    return absl::StrCat("POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n",
                        extra,
                        chunked ? "Transfer-Encoding: chunked\r\n\r\n3e8\r\n"
                                : "Content-Length: 1000\r\n\r\n",
                        body, chunked ? "\r\n0\r\n\r\n" : "");
  };
  EXPECT_EQ(Ask(port, post("", false)), 413);
  EXPECT_EQ(Ask(port, post("", true)), 413);
  EXPECT_EQ(Ask(port, post("X-Big: yes\r\n", false)), 200);
  EXPECT_EQ(Ask(port, post("X-Big: yes\r\n", true)), 200);
}

TEST_F(ServerTest, IgnoresRangesTheWholeBodyOnce) {
  StartServer({}, [](const Request&, Response& res) {
    res.SetContent(std::string(1000, 'z'), "text/plain");
  });
  std::string ranges = "bytes=0-999";
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&ranges, ",0-999");
  std::string answer;
  EXPECT_EQ(Ask(port(),
                absl::StrCat("GET /x HTTP/1.1\r\nHost: t\r\nRange: ", ranges,
                             "\r\nConnection: close\r\n\r\n"),
                "127.0.0.1", &answer),
            200);
  EXPECT_LT(answer.size(), 2000u);
}

TEST_F(ServerTest, RefusesConnectionsPastThePerAddressLimitOnly) {
  Limits l;
  l.max_connections_per_address = 4;
  StartServer(l);
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(Connect(port(), "127.0.0.2"));
  // Accepted one by one: the fifth is refused once the four are counted.
  int refused = -1;
  for (int attempt = 0; attempt < 200 && refused < 0; ++attempt) {
    const int fd = Connect(port(), "127.0.0.2");
    Send(fd, kGet);
    if (StatusOf(ReadAll(fd)) == 0)
      refused = fd;
    else
      close(fd);
  }
  ASSERT_GE(refused, 0);
  close(refused);
  EXPECT_GE(server_->counts().connections_refused, 1u);
  // Another address is served meanwhile.
  EXPECT_EQ(Ask(port(), kGet, "127.0.0.1"), 200);
  for (int fd : idle) close(fd);
}

TEST_F(ServerTest, CutsASlowRequestAtItsDeadline) {
  Limits l;
  l.request_timeout = absl::Milliseconds(300);
  StartServer(l);
  const int fd = Connect(port());
  Send(fd, "GET /x HTTP/1.1\r\nHost: t\r\n");  // and never the end
  EXPECT_EQ(ReadAll(fd), "");                  // closed, unanswered
  close(fd);
  // Counted just after the socket closes (Beast's timer closes it first).
  for (int i = 0; i < 5000 && server_->counts().requests_timed_out == 0; ++i) {
    usleep(1000);
  }
  EXPECT_EQ(server_->counts().requests_timed_out, 1u);
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(ServerTest, AnswersBusyWhenTheQueueIsFull) {
  absl::Notification release;
  std::atomic<int> started{0};
  Limits l;
  l.workers = 1;
  l.max_queued = 1;
  StartServer(l, [&](const Request&, Response& res) {
    ++started;
    release.WaitForNotification();
    res.SetContent("done", "text/plain");
  });
  const int a = Connect(port());
  Send(a, kGet);
  while (started.load() == 0) usleep(1000);  // the worker holds it
  const int b = Connect(port());
  Send(b, kGet);  // waits in the queue
  // The queue holds one: a third is answered busy at once, without a worker.
  int busy = 0;
  for (int i = 0; i < 50 && busy != 503; ++i) busy = Ask(port(), kGet);
  EXPECT_EQ(busy, 503);
  release.Notify();
  EXPECT_EQ(StatusOf(ReadAll(a)), 200);
  EXPECT_EQ(StatusOf(ReadAll(b)), 200);
  close(a);
  close(b);
}

TEST_F(ServerTest, StopClosesThePortWithoutWaitingForAHandler) {
  absl::Notification release, entered;
  StartServer({}, [&](const Request&, Response&) {
    entered.Notify();
    release.WaitForNotification();
  });
  const int p = port();
  const int fd = Connect(p);
  Send(fd, kGet);
  entered.WaitForNotification();
  server_->Stop();  // returns although the handler has not
  const int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(p);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  EXPECT_NE(connect(probe, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  close(probe);
  release.Notify();
  server_.reset();  // waits for the handler
  close(fd);
}

TEST(JsonDepthTest, CountsNestingOutsideStrings) {
  EXPECT_TRUE(JsonDepthWithin(R"({"a": [1, {"b": [2]}]})", 4));
  EXPECT_FALSE(JsonDepthWithin(R"({"a": [1, {"b": [2]}]})", 3));
  EXPECT_TRUE(JsonDepthWithin(R"({"a": "[[[[[[[[\"[[[["})", 1));
  EXPECT_TRUE(JsonDepthWithin(std::string(64, '[') + std::string(64, ']'), 64));
  EXPECT_FALSE(JsonDepthWithin(std::string(65, '['), 64));
  EXPECT_FALSE(JsonDepthWithin(std::string(1 << 20, '['), 64));
  // Closers beyond the openers do not let a later run go deeper.
  EXPECT_FALSE(JsonDepthWithin("]]]]" + std::string(5, '['), 4));
}

}  // namespace
}  // namespace dx::http
