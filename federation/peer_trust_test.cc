#include "federation/peer_trust.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"

namespace dx::federation {
namespace {

using ::dx::testing::ReadOrDie;

// Two platforms, each with its own dev PKI (a root, an intermediate, and
// the same four agency codes, a gateway gw1 named localhost): the ministry
// speaks for G01, the province for H30. Each PKI has an H30 certificate:
// only the province's is H30's.
class PeerTrustTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    bca_ = new std::string(dx::testing::DevPkiDir());
    const std::string dir = dx::testing::MakeTempDir("peer-trust");
    hanoi_ = new std::string(dir + "/hanoi");
    ASSERT_EQ(dx::testing::RunPkiScript("init", *hanoi_, ""), 0);
    const std::string op = absl::StrCat(
        "cd ", dir,
        " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -keyout op.key -out op.pem -days 30 -subj /CN=op 2>/dev/null");
    ASSERT_EQ(std::system(op.c_str()), 0);
    const std::string yaml = absl::StrCat(
        "platform_id: vn.ndxp.hub\nserial: 1\n"
        "issued_at: \"2026-01-01T00:00:00Z\"\n"
        "expires_at: \"2099-01-01T00:00:00Z\"\nplatforms:\n",
        Platform("vn.gov.bca", *bca_, "000.00.00.G01", "localhost"),
        Platform("vn.gov.hanoi", *hanoi_, "000.00.00.H30", "localhost"));
    auto signer = certs::Signer::FromPem(ReadOrDie(dir + "/op.key"),
                                         ReadOrDie(dir + "/op.pem"));
    ASSERT_TRUE(signer.ok());
    Anchor::Options o;
    absl::StatusOr<Anchor> a = Anchor::Load(yaml, *(*signer)->Sign(yaml),
                                            ReadOrDie(dir + "/op.pem"), o);
    ASSERT_TRUE(a.ok()) << a.status();
    anchor_ = new Anchor(*std::move(a));
  }

  static std::string Block(const std::string& pem) {
    std::string body(absl::StripSuffix(pem, "\n"));
    return absl::StrCat("      - |\n        ",
                        absl::StrReplaceAll(body, {{"\n", "\n        "}}),
                        "\n");
  }
  static std::string Platform(const std::string& id, const std::string& pki,
                              const std::string& agency,
                              const std::string& tls_name) {
    return absl::StrCat(
        "  - platform_id: ", id, "\n    root_certificates_pem:\n",
        Block(ReadOrDie(pki + "/root-ca.pem")),
        "    intermediate_certificates_pem:\n",
        Block(ReadOrDie(pki + "/intermediate-ca.pem")),
        "    gateways: [{address: \"127.0.0.1:1\", tls_name: ", tls_name,
        "}]\n    agencies: [\"", agency, "\"]\n");
  }
  static std::string Der(const std::string& pem_path) {
    absl::StatusOr<certs::X509Ptr> c =
        certs::ParseCertificatePem(ReadOrDie(pem_path));
    EXPECT_TRUE(c.ok());
    return certs::CertificateToDer(c->get());
  }

  static std::string* bca_;
  static std::string* hanoi_;
  static Anchor* anchor_;
};
std::string* PeerTrustTest::bca_ = nullptr;
std::string* PeerTrustTest::hanoi_ = nullptr;
Anchor* PeerTrustTest::anchor_ = nullptr;

TEST_F(PeerTrustTest, AConsumerIsVerifiedAgainstItsOwnPlatformsRoots) {
  const std::string h30 = Der(*hanoi_ + "/agencies/000.00.00.H30/sign.pem");
  absl::StatusOr<FederatedConsumer> c =
      VerifyFederatedConsumer(*anchor_, "000.00.00.H30", h30, absl::Now());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->platform->id, "vn.gov.hanoi");
  // The key returned checks the consumer's signatures.
  auto signer = certs::Signer::FromPem(
      ReadOrDie(*hanoi_ + "/agencies/000.00.00.H30/sign.key"),
      ReadOrDie(*hanoi_ + "/agencies/000.00.00.H30/sign.pem"));
  ASSERT_TRUE(signer.ok());
  EXPECT_TRUE(certs::VerifySignature(c->key.get(), "envelope",
                                     *(*signer)->Sign("envelope")));
  const std::string g01 = Der(*bca_ + "/agencies/000.00.00.G01/sign.pem");
  EXPECT_EQ(VerifyFederatedConsumer(*anchor_, "000.00.00.G01", g01, absl::Now())
                ->platform->id,
            "vn.gov.bca");
}

TEST_F(PeerTrustTest, AnAgencyOfOnePlatformCannotPresentItselfAsAnothers) {
  // The ministry's PKI also issued an "H30" certificate: H30 belongs to the
  // province, whose roots it does not chain to.
  const std::string fake = Der(*bca_ + "/agencies/000.00.00.H30/sign.pem");
  absl::StatusOr<FederatedConsumer> c =
      VerifyFederatedConsumer(*anchor_, "000.00.00.H30", fake, absl::Now());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(c.status().message().find("roots of vn.gov.hanoi"),
            std::string::npos)
      << c.status();
  // And the province's "G01" is not the ministry's G01.
  const std::string g01 = Der(*hanoi_ + "/agencies/000.00.00.G01/sign.pem");
  EXPECT_FALSE(
      VerifyFederatedConsumer(*anchor_, "000.00.00.G01", g01, absl::Now())
          .ok());
}

TEST_F(PeerTrustTest, TheCertificateMustNameTheAgencyAndTheAgencyAPlatform) {
  // H29 is the province's PKI's, but no platform speaks for it.
  const std::string h29 = Der(*hanoi_ + "/agencies/000.00.00.H29/sign.pem");
  absl::StatusOr<FederatedConsumer> c =
      VerifyFederatedConsumer(*anchor_, "000.00.00.H29", h29, absl::Now());
  EXPECT_NE(c.status().message().find("no federated platform speaks"),
            std::string::npos);
  // H30's own certificate offered for another code of the same platform.
  const std::string h30 = Der(*hanoi_ + "/agencies/000.00.00.H30/sign.pem");
  c = VerifyFederatedConsumer(*anchor_, "000.00.00.G01", h30, absl::Now());
  EXPECT_NE(c.status().message().find("does not name agency"),
            std::string::npos);
  EXPECT_FALSE(
      VerifyFederatedConsumer(*anchor_, "000.00.00.H30", "junk", absl::Now())
          .ok());
  // Outside the certificate's validity.
  EXPECT_FALSE(VerifyFederatedConsumer(*anchor_, "000.00.00.H30", h30,
                                       absl::Now() + absl::Hours(24 * 5000))
                   .ok());
}

TEST_F(PeerTrustTest, APeerGatewayIsKnownByItsRootsAndItsName) {
  absl::StatusOr<const federation::Platform*> p = PlatformOfPeerGateway(
      *anchor_, Der(*hanoi_ + "/gateway/tls.pem"), absl::Now());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->id, "vn.gov.hanoi");
  // An agency's certificate is not a gateway's.
  p = PlatformOfPeerGateway(
      *anchor_, Der(*hanoi_ + "/agencies/000.00.00.H30/tls.pem"), absl::Now());
  EXPECT_NE(p.status().message().find("does not name a gateway"),
            std::string::npos)
      << p.status();
  // A gateway of a PKI no anchor names.
  const std::string other = dx::testing::MakeTempDir("peer-trust-other");
  ASSERT_EQ(dx::testing::RunPkiScript("init", other + "/pki", ""), 0);
  p = PlatformOfPeerGateway(*anchor_, Der(other + "/pki/gateway/tls.pem"),
                            absl::Now());
  EXPECT_NE(p.status().message().find("no federated platform"),
            std::string::npos)
      << p.status();
}

}  // namespace
}  // namespace dx::federation
