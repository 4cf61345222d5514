// RFC 3161 against a real authority: `openssl ts -reply` answers the
// requests MakeRequest builds, with a CA and a time-stamping certificate
// made here; what VerifyResponse and VerifyToken accept, `openssl ts
// -verify` accepts too (the independent checker), and what was changed,
// answered to another request, or signed under other roots is refused.
#include "timestamp/rfc3161.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "timestamp/testing/local_authority.h"

namespace dx::timestamp {
namespace {

std::string Sha256(absl::string_view data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  return std::string(reinterpret_cast<char*>(d), sizeof(d));
}

class Rfc3161Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/dx-tsa-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    MakeAuthority(*dir_, "root");
    other_ = new std::string(*dir_ + "/other");
    Run("mkdir -p " + *other_);
    MakeAuthority(*other_, "other-root");
  }
  static void TearDownTestSuite() {
    Run("rm -rf " + *dir_);
    delete dir_;
    delete other_;
  }

  // A root CA and a time-stamping certificate under it, and `openssl ts`'s
  // configuration of that authority (testing/local_authority.h).
  static void MakeAuthority(const std::string& d, const std::string& cn) {
    ASSERT_TRUE(testing::LocalAuthority::Make(d, cn)) << d;
  }

  static void Run(const std::string& cmd) {
    ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
  }
  static int Status(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str());
  }
  static void Write(const std::string& path, absl::string_view data) {
    std::ofstream(path, std::ios::binary) << data;
  }
  static std::string Read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  // The authority's answer (DER) to `request`.
  std::string Reply(const std::string& request, const std::string& d = *dir_) {
    return testing::LocalAuthority::Reply(d, request);
  }
  std::string Roots() { return Read(*dir_ + "/ca.pem"); }

  static std::string* dir_;
  static std::string* other_;
};
std::string* Rfc3161Test::dir_ = nullptr;
std::string* Rfc3161Test::other_ = nullptr;

TEST_F(Rfc3161Test, AnAuthoritysAnswerVerifiesHereAndWithOpenssl) {
  const std::string digest = Sha256("tree head 42");
  auto request = MakeRequest(digest, 0x1234567890abcdefULL);
  ASSERT_TRUE(request.ok()) << request.status();
  const std::string response = Reply(*request);
  auto token = VerifyResponse(response, *request, Roots());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_LT(absl::AbsDuration(token->time - absl::Now()), absl::Minutes(5));
  EXPECT_FALSE(token->serial_hex.empty());
  EXPECT_EQ(token->policy_oid, "1.3.6.1.4.1.99999.1");
  // The independent checker agrees, on the answer and on the token alone.
  const std::string& d = *dir_;
  EXPECT_EQ(
      Status(absl::StrCat("openssl ts -verify -queryfile ", d, "/q.der -in ", d,
                          "/r.der -CAfile ", d, "/ca.pem")),
      0);
  Write(d + "/token.der", token->der);
  EXPECT_EQ(Status(absl::StrCat(
                "openssl ts -verify -digest ", absl::BytesToHexString(digest),
                " -token_in -in ", d, "/token.der -CAfile ", d, "/ca.pem")),
            0);
  auto again = VerifyToken(token->der, digest, Roots());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->time, token->time);
  EXPECT_EQ(again->serial_hex, token->serial_hex);
}

TEST_F(Rfc3161Test, AnAnswerToAnotherRequestIsRefused) {
  const std::string digest = Sha256("tree head 43");
  auto mine = MakeRequest(digest, 1);
  auto theirs = MakeRequest(digest, 2);  // same digest, another nonce
  auto other = MakeRequest(Sha256("tree head 44"), 1);
  ASSERT_TRUE(mine.ok() && theirs.ok() && other.ok());
  const std::string response = Reply(*theirs);
  auto r = VerifyResponse(response, *mine, Roots());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition)
      << r.status();
  EXPECT_FALSE(VerifyResponse(Reply(*other), *mine, Roots()).ok());
}

TEST_F(Rfc3161Test, AChangedAnswerOrTokenIsRefused) {
  const std::string digest = Sha256("tree head 45");
  auto request = MakeRequest(digest, 7);
  ASSERT_TRUE(request.ok());
  const std::string response = Reply(*request);
  auto token = VerifyResponse(response, *request, Roots());
  ASSERT_TRUE(token.ok()) << token.status();
  // Every 7th byte changed in turn: never accepted as saying anything
  // else. (The certificates the token carries are not signed by it, only
  // checked against the roots: a changed byte in a copy of the root is
  // harmless, so those answers may still verify, saying the same.)
  int refused = 0, tried = 0;
  for (size_t i = 0; i < response.size(); i += 7, ++tried) {
    std::string changed = response;
    changed[i] ^= 0x01;
    auto t = VerifyResponse(changed, *request, Roots());
    if (!t.ok()) {
      ++refused;
      continue;
    }
    EXPECT_EQ(t->time, token->time) << i;
    EXPECT_EQ(t->serial_hex, token->serial_hex) << i;
    EXPECT_EQ(t->policy_oid, token->policy_oid) << i;
  }
  EXPECT_GT(refused, tried / 2) << refused << " of " << tried;
  EXPECT_FALSE(VerifyToken(token->der, Sha256("another head"), Roots()).ok());
  // A byte of the signed TSTInfo (here, of the imprint it carries):
  // refused, even checked against the digest it now carries.
  std::string changed = token->der;
  const size_t at = changed.find(digest);
  ASSERT_NE(at, std::string::npos);
  changed[at] ^= 0x01;
  EXPECT_FALSE(VerifyToken(changed, digest, Roots()).ok());
  EXPECT_FALSE(
      VerifyToken(changed, changed.substr(at, digest.size()), Roots()).ok());
}

TEST_F(Rfc3161Test, AnAuthorityUnderOtherRootsIsRefused) {
  const std::string digest = Sha256("tree head 46");
  auto request = MakeRequest(digest, 9);
  ASSERT_TRUE(request.ok());
  const std::string response = Reply(*request, *other_);
  EXPECT_TRUE(
      VerifyResponse(response, *request, Read(*other_ + "/ca.pem")).ok());
  auto r = VerifyResponse(response, *request, Roots());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition)
      << r.status();
}

TEST_F(Rfc3161Test, ARefusalOfTheAuthorityIsNamed) {
  // A SHA-1 request, which this authority does not stamp: PKIStatus
  // rejection (2), failInfo badAlg.
  const std::string& d = *dir_;
  Write(d + "/data", "x");
  Run(absl::StrCat("openssl ts -query -data ", d, "/data -sha1 -cert -out ", d,
                   "/q1.der"));
  const std::string request = Read(d + "/q1.der");
  const std::string response = Reply(request);
  auto r = VerifyResponse(response, request, Roots());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("refused"), std::string::npos)
      << r.status();
}

TEST_F(Rfc3161Test, BadInputIsNamed) {
  EXPECT_EQ(MakeRequest("short", 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto request = MakeRequest(Sha256("x"), 1);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(VerifyResponse("not DER", *request, Roots()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyToken("not DER", Sha256("x"), Roots()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      VerifyResponse(Reply(*request), *request, "no PEM here").status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dx::timestamp
