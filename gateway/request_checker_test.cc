#include "gateway/request_checker.h"

#include <gtest/gtest.h>

#include <fstream>

#include "absl/status/status.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "gateway/testing/fake_federation_trust.h"

namespace dx::gateway {
namespace {

using testing::DevPkiDir;
using testing::DevTrustStoreOptions;
using testing::ReadOrDie;

void SetTs(absl::Time t, google::protobuf::Timestamp* ts) {
  ts->set_seconds(absl::ToUnixSeconds(t));
}

class RequestCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DevPkiDir();              // made first, so that
    clock_.Set(absl::Now());  // the clock is not before its certificates
    trust_ = *certs::TrustStore::Create(DevTrustStoreOptions(&clock_));
    checker_ = std::make_unique<RequestChecker>(RequestChecker::Options{},
                                                trust_.get(), &clock_);
  }

  static std::string Agency(const std::string& code, const std::string& f) {
    return DevPkiDir() + "/agencies/" + code + "/" + f;
  }

  v1::RequestEnvelope Envelope(const std::string& consumer = "000.00.00.H30") {
    v1::RequestEnvelope e;
    e.set_request_id("req-" + std::to_string(++counter_));
    e.set_consumer_agency(consumer);
    e.set_consumer_system("hotich");
    e.set_dataset_id("bca.population");
    e.set_operation(v1::OPERATION_READ);
    e.set_purpose_code("civil-registration");
    SetTs(clock_.Now(), e.mutable_issued_at());
    SetTs(clock_.Now() + absl::Minutes(2), e.mutable_expires_at());
    e.set_nonce(certs::RandomBytes(16));
    return e;
  }

  v1::SignedRequest Sign(const v1::RequestEnvelope& e,
                         const std::string& signer = "000.00.00.H30") {
    auto s = certs::Signer::FromFiles(Agency(signer, "sign.key"),
                                      Agency(signer, "sign.pem"));
    v1::SignedRequest r;
    e.SerializeToString(r.mutable_envelope());
    r.set_signature(*(*s)->Sign(r.envelope()));
    r.set_signer_certificate((*s)->certificate_der());
    return r;
  }

  Refusal Check(const v1::SignedRequest& r,
                const std::string& tls = "000.00.00.H30") {
    CheckedRequest out;
    return checker_->Check(
        r, tls.empty() ? "" : ReadOrDie(Agency(tls, "tls.pem")), &out);
  }

  FakeClock clock_{absl::Now()};
  std::unique_ptr<certs::TrustStore> trust_;
  std::unique_ptr<RequestChecker> checker_;
  int counter_ = 0;
};

TEST_F(RequestCheckerTest, GoodRequestPassesAndFillsWhatItLearned) {
  v1::SignedRequest r = Sign(Envelope());
  CheckedRequest out;
  Refusal ref =
      checker_->Check(r, ReadOrDie(Agency("000.00.00.H30", "tls.pem")), &out);
  EXPECT_FALSE(ref.refused()) << ref.message;
  EXPECT_EQ(out.tls_agency, "000.00.00.H30");
  EXPECT_EQ(out.request_sha256, certs::Sha256(r.envelope()));
  EXPECT_EQ(out.signer_fingerprint.size(), 32u);
  EXPECT_TRUE(out.envelope_parsed);
}

TEST_F(RequestCheckerTest, NoTlsCertificate) {
  Refusal r = Check(Sign(Envelope()), "");
  EXPECT_EQ(r.code, absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(r.reason, v1::REASON_TLS_IDENTITY_MISSING);
}

TEST_F(RequestCheckerTest, TlsAgencyMustBeTheConsumer) {
  Refusal r = Check(Sign(Envelope("000.00.00.H29"), "000.00.00.H29"));
  EXPECT_EQ(r.code, absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(r.reason, v1::REASON_IDENTITY_MISMATCH);
}

TEST_F(RequestCheckerTest, SignerMustBeTheConsumer) {
  Refusal r = Check(Sign(Envelope(), "000.00.00.H29"));
  EXPECT_EQ(r.reason, v1::REASON_IDENTITY_MISMATCH);
  EXPECT_NE(r.message.find("signer certificate belongs to"), std::string::npos);
}

TEST_F(RequestCheckerTest, TamperedEnvelopeOrSignatureFails) {
  v1::SignedRequest r = Sign(Envelope());
  std::string env = r.envelope();
  env.back() ^= 1;
  r.set_envelope(env);
  EXPECT_EQ(Check(r).reason, v1::REASON_BAD_SIGNATURE);
  v1::SignedRequest s = Sign(Envelope());
  s.set_signature("");
  EXPECT_EQ(Check(s).reason, v1::REASON_BAD_SIGNATURE);
}

TEST_F(RequestCheckerTest, GarbageEnvelopeIsMalformed) {
  v1::SignedRequest r = Sign(Envelope());
  r.set_envelope("\xff\xff\xff");
  Refusal ref = Check(r);
  EXPECT_EQ(ref.code, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ref.reason, v1::REASON_MALFORMED_REQUEST);
}

TEST_F(RequestCheckerTest, FieldChecks) {
  v1::RequestEnvelope e = Envelope();
  e.set_nonce("short");
  EXPECT_NE(Check(Sign(e)).message.find("nonce"), std::string::npos);
  e = Envelope();
  e.set_request_id("has space");
  EXPECT_EQ(Check(Sign(e)).reason, v1::REASON_MALFORMED_REQUEST);
  e = Envelope();
  e.clear_purpose_code();
  EXPECT_NE(Check(Sign(e)).message.find("purpose_code"), std::string::npos);
  e = Envelope();
  e.clear_issued_at();
  EXPECT_EQ(Check(Sign(e)).reason, v1::REASON_MALFORMED_REQUEST);
}

TEST_F(RequestCheckerTest, FreshnessWindowEdges) {
  v1::RequestEnvelope e = Envelope();
  SetTs(clock_.Now() - absl::Minutes(5) + absl::Seconds(1),
        e.mutable_issued_at());
  EXPECT_FALSE(Check(Sign(e)).refused());
  e = Envelope();
  SetTs(clock_.Now() - absl::Minutes(5) - absl::Seconds(1),
        e.mutable_issued_at());
  EXPECT_EQ(Check(Sign(e)).reason, v1::REASON_STALE_REQUEST);
  e = Envelope();
  SetTs(clock_.Now() + absl::Minutes(6), e.mutable_issued_at());
  SetTs(clock_.Now() + absl::Minutes(7), e.mutable_expires_at());
  EXPECT_EQ(Check(Sign(e)).reason, v1::REASON_STALE_REQUEST);
  e = Envelope();
  SetTs(clock_.Now() - absl::Seconds(1), e.mutable_expires_at());
  EXPECT_EQ(Check(Sign(e)).reason, v1::REASON_EXPIRED_REQUEST);
  e = Envelope();
  SetTs(clock_.Now() + absl::Hours(1), e.mutable_expires_at());
  EXPECT_EQ(Check(Sign(e)).reason, v1::REASON_EXPIRED_REQUEST);
}

TEST_F(RequestCheckerTest, ExpiredSignerCertificate) {
  const std::string folder = DevPkiDir() + "/agencies/expired-H30";
  if (!std::ifstream(folder + "/sign.pem")) {
    ASSERT_EQ(
        testing::RunPkiScript("agency", DevPkiDir(),
                              "000.00.00.H30 1 20200101000000Z 20200201000000Z",
                              "DX_PKI_FOLDER=expired-H30"),
        0);
  }
  auto s = certs::Signer::FromFiles(folder + "/sign.key", folder + "/sign.pem");
  ASSERT_TRUE(s.ok());
  v1::SignedRequest r;
  Envelope().SerializeToString(r.mutable_envelope());
  r.set_signature(*(*s)->Sign(r.envelope()));
  r.set_signer_certificate((*s)->certificate_der());
  Refusal ref = Check(r);
  EXPECT_EQ(ref.code, absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ref.reason, v1::REASON_CERT_EXPIRED);
  EXPECT_NE(ref.message.find("signer certificate"), std::string::npos);
}

// A PKI of its own in which H30's certificate `leaf` ("sign" or "tls") is
// revoked; its folder.
std::string PkiWithRevoked(const std::string& leaf) {
  const std::string pki = testing::MakeTempDir("revoked-" + leaf) + "/pki";
  EXPECT_EQ(testing::RunPkiScript("init", pki, ""), 0);
  EXPECT_EQ(testing::RunPkiScript(
                "revoke", pki,
                "'" + pki + "/agencies/000.00.00.H30/" + leaf + ".leaf.pem'"),
            0);
  return pki;
}

std::unique_ptr<certs::TrustStore> TrustOf(const std::string& pki) {
  certs::TrustStore::Options o;
  o.ca_file = pki + "/root-ca.pem";
  o.intermediates_file = pki + "/intermediate-ca.pem";
  o.crl_files = {pki + "/crl.pem"};
  return *certs::TrustStore::Create(o);
}

TEST_F(RequestCheckerTest, RevokedSignerCertificate) {
  const std::string pki = PkiWithRevoked("sign");
  auto trust = TrustOf(pki);
  RequestChecker checker({}, trust.get(), &clock_);
  auto s = certs::Signer::FromFiles(pki + "/agencies/000.00.00.H30/sign.key",
                                    pki + "/agencies/000.00.00.H30/sign.pem");
  v1::SignedRequest r;
  Envelope().SerializeToString(r.mutable_envelope());
  r.set_signature(*(*s)->Sign(r.envelope()));
  r.set_signer_certificate((*s)->certificate_der());
  CheckedRequest out;
  Refusal ref = checker.Check(
      r, ReadOrDie(pki + "/agencies/000.00.00.H30/tls.pem"), &out);
  EXPECT_EQ(ref.reason, v1::REASON_CERT_REVOKED) << ref.message;
}

// A subscription under way is checked again: its certificates, not its
// freshness (it was fresh when it came); a revocation ends it.
TEST_F(RequestCheckerTest, RecheckSeesARevocationAndNotTheRequestsAge) {
  const v1::SignedRequest ok = Sign(Envelope());
  ASSERT_FALSE(Check(ok).refused());
  clock_.Set(clock_.Now() + absl::Hours(1));  // long past expires_at
  EXPECT_FALSE(checker_
                   ->RecheckCertificates(
                       ok, ReadOrDie(Agency("000.00.00.H30", "tls.pem")))
                   .refused());
  for (const std::string leaf : {"sign", "tls"}) {
    const std::string pki = PkiWithRevoked(leaf);
    const std::string dir = pki + "/agencies/000.00.00.H30";
    auto trust = TrustOf(pki);
    RequestChecker checker({}, trust.get(), &clock_);
    auto s = certs::Signer::FromFiles(dir + "/sign.key", dir + "/sign.pem");
    v1::SignedRequest r;
    Envelope().SerializeToString(r.mutable_envelope());
    r.set_signature(*(*s)->Sign(r.envelope()));
    r.set_signer_certificate((*s)->certificate_der());
    Refusal ref = checker.RecheckCertificates(r, ReadOrDie(dir + "/tls.pem"));
    EXPECT_EQ(ref.reason, v1::REASON_CERT_REVOKED) << leaf << ref.message;
    EXPECT_EQ(ref.code, absl::StatusCode::kUnauthenticated);
  }
}

// An auditor must see who tried, even when their certificate is refused:
// what was read is kept, marked unverified.
TEST_F(RequestCheckerTest, RevokedTlsCertificateStillNamesWhoTried) {
  const std::string pki = PkiWithRevoked("tls");
  const std::string dir = pki + "/agencies/000.00.00.H30";
  auto trust = TrustOf(pki);
  RequestChecker checker({}, trust.get(), &clock_);
  auto s = certs::Signer::FromFiles(dir + "/sign.key", dir + "/sign.pem");
  const v1::RequestEnvelope e = Envelope();
  v1::SignedRequest r;
  e.SerializeToString(r.mutable_envelope());
  r.set_signature(*(*s)->Sign(r.envelope()));
  r.set_signer_certificate((*s)->certificate_der());
  const std::string tls_pem = ReadOrDie(dir + "/tls.pem");
  CheckedRequest out;
  Refusal ref = checker.Check(r, tls_pem, &out);
  EXPECT_EQ(ref.reason, v1::REASON_CERT_REVOKED) << ref.message;
  EXPECT_EQ(out.tls_agency, "000.00.00.H30");
  auto cert = certs::ParseCertificatePem(tls_pem);
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(out.tls_cert_fingerprint,
            certs::CertificateFingerprint(cert->get()));
  EXPECT_TRUE(out.envelope_parsed);
  EXPECT_EQ(out.envelope.request_id(), e.request_id());
  EXPECT_EQ(out.envelope.consumer_agency(), "000.00.00.H30");
  EXPECT_EQ(out.request_sha256, certs::Sha256(r.envelope()));
  EXPECT_FALSE(out.identity_verified);
}

TEST_F(RequestCheckerTest, IdentityIsVerifiedOnlyAfterTheSignature) {
  CheckedRequest good;
  const std::string tls = ReadOrDie(Agency("000.00.00.H30", "tls.pem"));
  ASSERT_FALSE(checker_->Check(Sign(Envelope()), tls, &good).refused());
  EXPECT_TRUE(good.identity_verified);
  EXPECT_EQ(good.tls_cert_fingerprint.size(), 32u);

  // A bad signature: the claims are read, not verified.
  v1::SignedRequest bad = Sign(Envelope());
  bad.set_signature(Sign(Envelope()).signature());
  CheckedRequest out;
  EXPECT_EQ(checker_->Check(bad, tls, &out).reason, v1::REASON_BAD_SIGNATURE);
  EXPECT_FALSE(out.identity_verified);
  EXPECT_EQ(out.tls_agency, "000.00.00.H30");
  EXPECT_FALSE(out.envelope.request_id().empty());

  // Stale, but signed by who it claims: verified, and refused.
  v1::RequestEnvelope stale = Envelope();
  SetTs(clock_.Now() - absl::Hours(1), stale.mutable_issued_at());
  CheckedRequest late;
  EXPECT_EQ(checker_->Check(Sign(stale), tls, &late).reason,
            v1::REASON_STALE_REQUEST);
  EXPECT_TRUE(late.identity_verified);
}

TEST_F(RequestCheckerTest, ReadUnverifiedReadsClaimsWithoutTrust) {
  const v1::RequestEnvelope e = Envelope();
  CheckedRequest out;
  RequestChecker::ReadUnverified(
      Sign(e), ReadOrDie(Agency("000.00.00.H29", "tls.pem")), &out);
  EXPECT_EQ(out.tls_agency, "000.00.00.H29");
  EXPECT_EQ(out.tls_cert_fingerprint.size(), 32u);
  EXPECT_EQ(out.envelope.request_id(), e.request_id());
  EXPECT_FALSE(out.identity_verified);
  CheckedRequest none;
  RequestChecker::ReadUnverified(v1::SignedRequest(), "not a pem", &none);
  EXPECT_FALSE(none.envelope_parsed);
  EXPECT_TRUE(none.tls_agency.empty());
}

// A federation that knows one peer gateway (by its TLS PEM) of platform
// vn.gov.bca, and takes a forwarded consumer's key from its certificate
// unless told to refuse; it records what it was asked.
class FakeHops final : public testing::FakeFederationTrust {
 public:
  explicit FakeHops(std::string peer_gateway_pem)
      : peer_gateway_pem_(std::move(peer_gateway_pem)) {}

  absl::StatusOr<Hop> IdentifyHop(const std::string& tls_pem) const override {
    ++identify_calls;
    if (tls_pem != peer_gateway_pem_) {
      return absl::PermissionDeniedError("not a peer platform's gateway");
    }
    return Hop{"vn.gov.bca", "gw1"};
  }
  absl::StatusOr<certs::PkeyPtr> VerifyForwardedConsumer(
      const std::string& consumer_agency,
      const std::string& signer_der) const override {
    asked_agency = consumer_agency;
    asked_signer_der = signer_der;
    if (!consumer_error.ok()) return consumer_error;
    return certs::PublicKeyOfDer(signer_der);
  }

  absl::Status consumer_error;
  mutable int identify_calls = 0;
  mutable std::string asked_agency;
  mutable std::string asked_signer_der;

 private:
  const std::string peer_gateway_pem_;
};

class ForwardedRequestTest : public RequestCheckerTest {
 protected:
  void SetUp() override {
    RequestCheckerTest::SetUp();
    gateway_pem_ = ReadOrDie(DevPkiDir() + "/gateway/tls.pem");
    hops_ = std::make_unique<FakeHops>(gateway_pem_);
    forwarding_ = std::make_unique<RequestChecker>(
        RequestChecker::Options{}, trust_.get(), &clock_, hops_.get());
  }

  std::string gateway_pem_;
  std::unique_ptr<FakeHops> hops_;
  std::unique_ptr<RequestChecker> forwarding_;
};

TEST_F(ForwardedRequestTest, APeerGatewaysRequestIsKnownByItsSignature) {
  const v1::SignedRequest r = Sign(Envelope());
  CheckedRequest out;
  Refusal ref = forwarding_->Check(r, gateway_pem_, &out);
  EXPECT_FALSE(ref.refused()) << ref.message;
  EXPECT_TRUE(out.identity_verified);
  EXPECT_EQ(out.via_platform, "vn.gov.bca");
  EXPECT_EQ(out.via_gateway, "gw1");
  // The gateway is no agency: the consumer is the envelope's, as signed.
  EXPECT_TRUE(out.tls_agency.empty());
  EXPECT_EQ(out.envelope.consumer_agency(), "000.00.00.H30");
  EXPECT_EQ(out.signer_fingerprint.size(), 32u);
  EXPECT_EQ(out.request_sha256, certs::Sha256(r.envelope()));
  // The federation was asked about this consumer and this signer.
  EXPECT_EQ(hops_->asked_agency, "000.00.00.H30");
  EXPECT_EQ(hops_->asked_signer_der, r.signer_certificate());

  // Without the federation, the same gateway is no caller of Exchange.
  CheckedRequest plain;
  Refusal no_hops = checker_->Check(r, gateway_pem_, &plain);
  EXPECT_EQ(no_hops.reason, v1::REASON_TLS_IDENTITY_MISSING) << no_hops.message;
  EXPECT_TRUE(plain.via_platform.empty());
}

TEST_F(ForwardedRequestTest,
       AlteredEnvelopeBytesAreABadSignatureNamingThePeer) {
  v1::RequestEnvelope e = Envelope();
  v1::SignedRequest r = Sign(e);
  e.set_purpose_code("tax-audit");  // what a hop must not change
  e.SerializeToString(r.mutable_envelope());
  CheckedRequest out;
  Refusal ref = forwarding_->Check(r, gateway_pem_, &out);
  EXPECT_EQ(ref.reason, v1::REASON_BAD_SIGNATURE) << ref.message;
  EXPECT_NE(ref.message.find("vn.gov.bca"), std::string::npos) << ref.message;
  EXPECT_FALSE(out.identity_verified);
  EXPECT_EQ(out.via_platform, "vn.gov.bca");
  // The claims are still read, for the record of the refusal.
  EXPECT_EQ(out.envelope.purpose_code(), "tax-audit");

  v1::SignedRequest unsigned_request = Sign(Envelope());
  unsigned_request.clear_signature();
  EXPECT_EQ(forwarding_->Check(unsigned_request, gateway_pem_, &out).reason,
            v1::REASON_BAD_SIGNATURE);
}

TEST_F(ForwardedRequestTest, AConsumerTheFederationDoesNotVouchForIsRefused) {
  hops_->consumer_error = absl::PermissionDeniedError(
      "agency 000.00.00.H30's certificate does not chain to the roots of "
      "vn.gov.hanoi");
  CheckedRequest out;
  Refusal ref = forwarding_->Check(Sign(Envelope()), gateway_pem_, &out);
  EXPECT_EQ(ref.reason, v1::REASON_IDENTITY_MISMATCH) << ref.message;
  EXPECT_NE(ref.message.find("vn.gov.bca"), std::string::npos) << ref.message;
  EXPECT_NE(ref.message.find("does not chain to the roots of vn.gov.hanoi"),
            std::string::npos)
      << ref.message;
  EXPECT_FALSE(out.identity_verified);
}

TEST_F(ForwardedRequestTest, AForwardedRequestIsStillCheckedForFormAndAge) {
  v1::SignedRequest garbage = Sign(Envelope());
  garbage.set_envelope("\xff\xff\xff");
  CheckedRequest out;
  EXPECT_EQ(forwarding_->Check(garbage, gateway_pem_, &out).reason,
            v1::REASON_MALFORMED_REQUEST);

  v1::RequestEnvelope stale = Envelope();
  SetTs(clock_.Now() - absl::Hours(1), stale.mutable_issued_at());
  CheckedRequest late;
  EXPECT_EQ(forwarding_->Check(Sign(stale), gateway_pem_, &late).reason,
            v1::REASON_STALE_REQUEST);
  EXPECT_TRUE(late.identity_verified);

  v1::RequestEnvelope no_purpose = Envelope();
  no_purpose.clear_purpose_code();
  EXPECT_NE(forwarding_->Check(Sign(no_purpose), gateway_pem_, &out)
                .message.find("purpose_code"),
            std::string::npos);
}

TEST_F(ForwardedRequestTest, AClientThatIsNoHopTakesTheAgencyChecks) {
  // An agency: asked about, not a hop, checked as always.
  CheckedRequest out;
  Refusal ref = forwarding_->Check(
      Sign(Envelope()), ReadOrDie(Agency("000.00.00.H30", "tls.pem")), &out);
  EXPECT_FALSE(ref.refused()) << ref.message;
  EXPECT_EQ(hops_->identify_calls, 1);
  EXPECT_EQ(out.tls_agency, "000.00.00.H30");
  EXPECT_TRUE(out.via_platform.empty());
  EXPECT_TRUE(out.identity_verified);
  // The agency checks still bind: another agency's TLS is a mismatch.
  EXPECT_EQ(forwarding_
                ->Check(Sign(Envelope()),
                        ReadOrDie(Agency("000.00.00.H29", "tls.pem")), &out)
                .reason,
            v1::REASON_IDENTITY_MISMATCH);

  // A gateway the federation does not take as a hop is no agency either.
  FakeHops none("no peer gateway");
  RequestChecker checker({}, trust_.get(), &clock_, &none);
  CheckedRequest gw;
  Refusal refused = checker.Check(Sign(Envelope()), gateway_pem_, &gw);
  EXPECT_EQ(none.identify_calls, 1);
  EXPECT_EQ(refused.reason, v1::REASON_TLS_IDENTITY_MISSING) << refused.message;
  EXPECT_TRUE(gw.via_platform.empty());
  EXPECT_TRUE(none.asked_agency.empty());
  EXPECT_FALSE(gw.identity_verified);
}

}  // namespace
}  // namespace dx::gateway
