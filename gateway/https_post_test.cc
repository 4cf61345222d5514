// HttpsPostOnce against a real HTTPS server (dx::http over TLS with the dev
// PKI's gateway certificate) on loopback: what it verifies, what it refuses
// to follow, and the bound on what it reads.
#include "gateway/https_post.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "certs/testing/dev_pki.h"
#include "http/server.h"

namespace dx::gateway {
namespace {

class HttpsPostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitHttpsPost();
    const std::string gw = testing::DevPkiDir() + "/gateway/";
    http::Server::Options o;
    o.listen_address = "127.0.0.1:0";
    o.name = "test";
    o.tls = [gw](SSL_CTX* ctx) {
      if (SSL_CTX_use_certificate_chain_file(ctx, (gw + "tls.pem").c_str()) !=
              1 ||
          SSL_CTX_use_PrivateKey_file(ctx, (gw + "tls.key").c_str(),
                                      SSL_FILETYPE_PEM) != 1) {
        return absl::InternalError("cannot load the dev TLS pair");
      }
      return absl::OkStatus();
    };
    o.handler = [this](const http::Request& req, http::Response& res) {
      if (req.path == "/echo") {
        res.status = 202;
        res.SetContent(absl::StrCat(req.Header("Content-Type"), "|", req.body),
                       "text/plain; charset=utf-8");
      } else if (req.path == "/big") {
        res.SetContent(std::string(200 * 1024, 'x'), "text/plain");
      } else if (req.path == "/moved") {
        res.status = 302;
        res.SetHeader("Location", Url("/echo"));
        res.SetContent("moved", "text/plain");
      } else {
        res.status = 404;
      }
    };
    auto s = http::Server::Start(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }

  std::string Url(const std::string& path) const {
    return absl::StrCat("https://127.0.0.1:", server_->port(), path);
  }

  HttpsPostRequest Request(const std::string& path) const {
    HttpsPostRequest r;
    r.url = Url(path);
    r.content_type = "application/json";
    r.body = R"({"a":1})";
    r.ca_file = testing::DevPkiDir() + "/root-ca.pem";
    r.timeout_seconds = 20;
    return r;
  }

  std::unique_ptr<http::Server> server_;
};

TEST_F(HttpsPostTest, PostsTheBodyAndReturnsTheAnswerWhateverItsStatus) {
  auto a = HttpsPostOnce(Request("/echo"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->status, 202);
  EXPECT_EQ(a->body, R"(application/json|{"a":1})");
  EXPECT_EQ(a->content_type, "text/plain; charset=utf-8");
  auto missing = HttpsPostOnce(Request("/nothing"));
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404);
}

TEST_F(HttpsPostTest, AnAnswerPastTheBoundIsRefusedNotKept) {
  HttpsPostRequest r = Request("/big");
  r.max_answer_bytes = 64 * 1024;
  auto a = HttpsPostOnce(r);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(a.status().message().find("larger than 65536 bytes"),
            std::string::npos)
      << a.status();
  r.max_answer_bytes = 256 * 1024;
  a = HttpsPostOnce(r);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->body.size(), 200u * 1024);
}

TEST_F(HttpsPostTest, ARedirectIsAnsweredNotFollowed) {
  auto a = HttpsPostOnce(Request("/moved"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->status, 302);
  EXPECT_EQ(a->body, "moved");
}

TEST_F(HttpsPostTest, AServerTheCaFileDoesNotVouchForIsUnavailable) {
  HttpsPostRequest r = Request("/echo");
  r.ca_file = "";  // the system's anchors do not know the dev PKI
  auto a = HttpsPostOnce(r);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(a.status().message().find(r.url), std::string::npos);
}

TEST_F(HttpsPostTest, PlainHttpIsNeverSent) {
  HttpsPostRequest r = Request("/echo");
  r.url = absl::StrCat("http://127.0.0.1:", server_->port(), "/echo");
  auto a = HttpsPostOnce(r);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace dx::gateway
