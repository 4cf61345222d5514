// The console's parts that need no server: sessions, the signed-challenge
// sign-in against the real dev PKI, what the bridge forwards, and the
// built-in pages' safety rules.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "absl/strings/match.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/bytes.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "console/assets.h"
#include "console/rpc_bridge.h"
#include "console/sessions.h"
#include "console/sign_in.h"
#include "console/tls_identity.h"

namespace dx::console {
namespace {

using ::dx::testing::DevPkiDir;
using ::dx::testing::DevTrustStoreOptions;
using ::dx::testing::ReadOrDie;

bool Has(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

certs::Principal Auditor() {
  return {certs::PrincipalKind::kAuditor, "auditor1"};
}

TEST(SessionStoreTest, AChallengeIsTakenOnceAndExpires) {
  FakeClock clock(absl::FromUnixSeconds(1764000000));
  SessionStore store(&clock, absl::Minutes(15), absl::Hours(8));
  const std::string c = store.NewChallenge();
  EXPECT_EQ(c.size(), 43u);  // 32 bytes, base64url, no padding
  EXPECT_TRUE(store.TakeChallenge(c));
  EXPECT_FALSE(store.TakeChallenge(c));
  EXPECT_FALSE(store.TakeChallenge("made-up"));
  const std::string late = store.NewChallenge();
  clock.Advance(SessionStore::kChallengeLifetime);
  EXPECT_FALSE(store.TakeChallenge(late));
}

TEST(SessionStoreTest, ACodeMakesOneSessionWithinAMinute) {
  FakeClock clock(absl::FromUnixSeconds(1764000000));
  SessionStore store(&clock, absl::Minutes(15), absl::Hours(8));
  const std::string code = store.NewSignInCode("PEM", Auditor());
  auto s = store.Redeem(code);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->who.id, "auditor1");
  EXPECT_NE(s->id, s->csrf_token);
  EXPECT_EQ(store.CertificateOf(s->id), "PEM");
  EXPECT_EQ(store.Redeem(code).status().code(),
            absl::StatusCode::kUnauthenticated);  // spent
  const std::string late = store.NewSignInCode("PEM", Auditor());
  clock.Advance(absl::Seconds(61));
  EXPECT_FALSE(store.Redeem(late).ok());
}

TEST(SessionStoreTest, ASessionEndsWhenIdleAtItsMaximumAgeOrOnSignOut) {
  FakeClock clock(absl::FromUnixSeconds(1764000000));
  SessionStore store(&clock, absl::Minutes(15), absl::Hours(1));
  auto idle = store.Redeem(store.NewSignInCode("A", Auditor()));
  auto busy = store.Redeem(store.NewSignInCode("B", Auditor()));
  auto out = store.Redeem(store.NewSignInCode("C", Auditor()));
  ASSERT_TRUE(idle.ok() && busy.ok() && out.ok());
  store.End(out->id);
  EXPECT_FALSE(store.Touch(out->id).ok());
  for (int i = 0; i < 5; ++i) {
    clock.Advance(absl::Minutes(10));
    EXPECT_TRUE(store.Touch(busy->id).ok()) << i;
  }
  EXPECT_FALSE(store.Touch(idle->id).ok());  // 50 minutes idle
  EXPECT_EQ(store.CertificateOf(idle->id), "");
  clock.Advance(absl::Minutes(10));
  EXPECT_FALSE(store.Touch(busy->id).ok());  // an hour old
  EXPECT_EQ(store.Touch("nonsense").status().code(),
            absl::StatusCode::kUnauthenticated);
}

class SignInTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DevPkiDir();
    clock_.Set(absl::Now());
    trust_ = *certs::TrustStore::Create(DevTrustStoreOptions(&clock_));
  }
  SignInAttempt Signed(const std::string& folder, const std::string& message) {
    SignInAttempt a;
    a.challenge = sessions_.NewChallenge();
    a.certificate_pem = ReadOrDie(folder + "/tls.pem");
    auto signer = certs::Signer::FromPem(ReadOrDie(folder + "/tls.key"),
                                         a.certificate_pem);
    EXPECT_TRUE(signer.ok()) << signer.status();
    a.signature_der = *(*signer)->Sign(
        message.empty() ? SignInMessage(a.challenge) : message);
    return a;
  }

  FakeClock clock_{absl::Now()};
  std::unique_ptr<certs::TrustStore> trust_;
  SessionStore sessions_{&clock_, absl::Minutes(15), absl::Hours(8)};
};

TEST_F(SignInTest, APersonSignsInOncePerChallenge) {
  SignInAttempt a = Signed(DevPkiDir() + "/people/auditor1", "");
  std::string claimed;
  auto who = VerifySignIn(trust_.get(), &sessions_, a, &claimed);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->kind, certs::PrincipalKind::kAuditor);
  EXPECT_EQ(claimed, "auditor:auditor1");
  // The same signed challenge again: refused.
  EXPECT_EQ(VerifySignIn(trust_.get(), &sessions_, a, &claimed).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignInTest, AnAgencyCertificateIsRefusedEvenWhenItsSignatureIsGood) {
  SignInAttempt a = Signed(DevPkiDir() + "/agencies/000.00.00.H30", "");
  std::string claimed;
  auto who = VerifySignIn(trust_.get(), &sessions_, a, &claimed);
  EXPECT_EQ(who.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(who.status().message(), "only people"));
  EXPECT_EQ(claimed, "agency:000.00.00.H30");
}

TEST_F(SignInTest, ASignatureOverAnythingElseIsRefused) {
  SignInAttempt a = Signed(DevPkiDir() + "/people/admin1", "something else");
  std::string claimed;
  EXPECT_EQ(VerifySignIn(trust_.get(), &sessions_, a, &claimed).status().code(),
            absl::StatusCode::kUnauthenticated);
  // Another person's certificate with admin1's signature: refused too.
  SignInAttempt b = Signed(DevPkiDir() + "/people/admin1", "");
  b.certificate_pem = ReadOrDie(DevPkiDir() + "/people/admin2/tls.pem");
  EXPECT_EQ(VerifySignIn(trust_.get(), &sessions_, b, &claimed).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(RpcBridgeTest, ForwardsTheGovernedServicesButNotTheirFileActions) {
  EXPECT_TRUE(RpcBridge::Forwards("dx.v1.Audit/Query"));
  EXPECT_TRUE(RpcBridge::Forwards("dx.v1.PolicyAdmin/Approve"));
  EXPECT_FALSE(RpcBridge::Forwards("dx.v1.Audit/Prune"));
  EXPECT_FALSE(RpcBridge::Forwards("dx.v1.Exchange/Call"));
  EXPECT_FALSE(RpcBridge::Forwards("grpc.health.v1.Health/Check"));
  EXPECT_EQ(HttpStatusOf(7), 403);
  EXPECT_EQ(HttpStatusOf(16), 401);
  EXPECT_EQ(HttpStatusOf(3), 400);
}

TEST(AssetsTest, PagesLoadOnlyTheirOwnScriptsAndNoInlineCode) {
  const Asset* index = FindAsset("/index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_TRUE(Has(index->body, "src=\"/assets/app.js\""));
  for (const char* bad : {"<script>", "onclick=", "onload=", "javascript:",
                          "http://", "https://", "style="}) {
    EXPECT_FALSE(Has(index->body, bad)) << bad;
  }
  for (const char* path :
       {"/assets/app.js", "/assets/verify.js", "/assets/app.css"}) {
    const Asset* a = FindAsset(path);
    ASSERT_NE(a, nullptr) << path;
    EXPECT_FALSE(Has(a->body, "innerHTML")) << path;
    EXPECT_FALSE(Has(a->body, "eval(")) << path;
  }
  EXPECT_EQ(FindAsset("/assets/missing.js"), nullptr);
}

// The pages' words: one catalogue per language (i18n/), served as JSON
// beside the scripts that read them.
TEST(AssetsTest, TheCataloguesAreServedAsJson) {
  for (const char* path : {"/assets/i18n/vi.json", "/assets/i18n/en.json"}) {
    const Asset* a = FindAsset(path);
    ASSERT_NE(a, nullptr) << path;
    EXPECT_EQ(a->content_type, "application/json; charset=utf-8");
    EXPECT_TRUE(Has(a->body, "\"console.nav.audit\"")) << path;
  }
  EXPECT_TRUE(
      Has(FindAsset("/assets/i18n/vi.json")->body, "\"Nhật ký kiểm toán\""));
}

// The certificate a client sees in a handshake, in memory, with a server
// context whose certificate comes from `identity`.
std::string ServedLeafSha256(TlsIdentity& identity) {
  SSL_CTX* server_ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  identity.InstallOn(server_ctx);
  SSL* server = SSL_new(server_ctx);
  SSL* client = SSL_new(client_ctx);
  BIO *server_io = nullptr, *client_io = nullptr;
  BIO_new_bio_pair(&server_io, 0, &client_io, 0);
  SSL_set_bio(server, server_io, server_io);
  SSL_set_bio(client, client_io, client_io);
  SSL_set_accept_state(server);
  SSL_set_connect_state(client);
  for (int i = 0; i < 20 && (!SSL_is_init_finished(client) ||
                             !SSL_is_init_finished(server));
       ++i) {
    SSL_do_handshake(client);
    SSL_do_handshake(server);
  }
  std::string out;
  if (X509* peer = SSL_get1_peer_certificate(client)) {
    out = HexEncode(certs::CertificateFingerprint(peer));
    X509_free(peer);
  }
  SSL_free(client);
  SSL_free(server);
  SSL_CTX_free(client_ctx);
  SSL_CTX_free(server_ctx);
  return out;
}

TEST(TlsIdentityTest, EachHandshakePresentsThePairInForceAndABadOneIsRefused) {
  const std::string gw = DevPkiDir() + "/gateway";
  const std::string h30 = DevPkiDir() + "/agencies/000.00.00.H30";
  TlsIdentity identity;
  EXPECT_EQ(ServedLeafSha256(identity), "");  // nothing to present yet
  ASSERT_TRUE(identity
                  .Set(ReadOrDie(gw + "/tls.pem"), ReadOrDie(gw + "/tls.key"),
                       "gateway")
                  .ok());
  const std::string first = identity.LeafSha256();
  EXPECT_EQ(ServedLeafSha256(identity), first);
  // Refused: a key of another certificate, or no certificate at all.
  absl::Status mismatch = identity.Set(ReadOrDie(h30 + "/tls.pem"),
                                       ReadOrDie(gw + "/tls.key"), "x.pem");
  EXPECT_TRUE(absl::StrContains(mismatch.message(), "x.pem: the key is not"))
      << mismatch;
  EXPECT_FALSE(identity.Set("not PEM", ReadOrDie(gw + "/tls.key"), "y").ok());
  EXPECT_EQ(ServedLeafSha256(identity), first);
  // Replaced: the next handshake presents the new pair.
  ASSERT_TRUE(
      identity
          .Set(ReadOrDie(h30 + "/tls.pem"), ReadOrDie(h30 + "/tls.key"), "h30")
          .ok());
  EXPECT_NE(identity.LeafSha256(), first);
  EXPECT_EQ(ServedLeafSha256(identity), identity.LeafSha256());
}

}  // namespace
}  // namespace dx::console
