#include "certs/trust_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "certs/testing/dev_pki.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"

namespace dx::certs {
namespace {

using testing::ReadOrDie;

// Each test gets its own PKI copy, since some revoke certificates.
class TrustStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = testing::MakeTempDir("trust") + "/pki";
    std::filesystem::copy(testing::DevPkiDir(), pki_,
                          std::filesystem::copy_options::recursive);
  }
  std::unique_ptr<TrustStore> Store(bool with_crl = true) {
    TrustStore::Options o;
    o.ca_file = pki_ + "/root-ca.pem";
    o.intermediates_file = pki_ + "/intermediate-ca.pem";
    if (with_crl) o.crl_files.push_back(pki_ + "/crl.pem");
    o.require_crl = with_crl;
    o.clock = &clock_;
    auto s = TrustStore::Create(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return *std::move(s);
  }
  std::string Pem(const std::string& rel) { return ReadOrDie(pki_ + rel); }

  std::string pki_;
  FakeClock clock_{absl::Now()};
};

TEST_F(TrustStoreTest, AgencyCertificateVerifies) {
  auto store = Store();
  CertVerdict v = store->VerifyPem(Pem("/agencies/000.00.00.H30/tls.pem"));
  ASSERT_TRUE(v.ok()) << v.message;
  EXPECT_EQ(v.cert->principal.id, "000.00.00.H30");
  EXPECT_EQ(v.cert->fingerprint.size(), 32u);
}

TEST_F(TrustStoreTest, CertificateOfAnotherCaIsUntrusted) {
  const std::string other = testing::MakeTempDir("other") + "/pki";
  ASSERT_EQ(testing::RunPkiScript("init", other, ""), 0);
  auto store = Store();
  CertVerdict v =
      store->VerifyPem(ReadOrDie(other + "/agencies/000.00.00.H30/tls.pem"));
  EXPECT_EQ(v.problem, CertProblem::kUntrusted) << v.message;
}

TEST_F(TrustStoreTest, RevocationTakesEffectOnReload) {
  auto store = Store();
  const std::string cert = pki_ + "/agencies/000.00.00.H29/sign.leaf.pem";
  ASSERT_TRUE(store->VerifyPem(ReadOrDie(cert)).ok());  // now cached
  ASSERT_EQ(testing::RunPkiScript("revoke", pki_, "'" + cert + "'"), 0);
  bool reloaded = false;
  ASSERT_TRUE(store->ReloadCrlsIfChanged(&reloaded).ok());
  EXPECT_TRUE(reloaded);
  EXPECT_EQ(store->crl_generation(), 2u);
  CertVerdict v = store->VerifyPem(ReadOrDie(cert));
  EXPECT_EQ(v.problem, CertProblem::kRevoked) << v.message;
  // Others are unaffected.
  EXPECT_TRUE(store->VerifyPem(Pem("/agencies/000.00.00.H30/sign.pem")).ok());
  // No change, no reload.
  ASSERT_TRUE(store->ReloadCrlsIfChanged(&reloaded).ok());
  EXPECT_FALSE(reloaded);
}

TEST_F(TrustStoreTest, BrokenCrlKeepsThePreviousOne) {
  auto store = Store();
  std::filesystem::resize_file(pki_ + "/crl.pem", 10);
  bool reloaded = true;
  EXPECT_FALSE(store->ReloadCrlsIfChanged(&reloaded).ok());
  EXPECT_FALSE(reloaded);
  EXPECT_TRUE(store->VerifyPem(Pem("/agencies/000.00.00.H30/tls.pem")).ok());
}

TEST_F(TrustStoreTest, ExpiredAndNotYetValidByClock) {
  auto store = Store(/*with_crl=*/false);  // the CRL would expire first
  const std::string pem = Pem("/agencies/000.00.00.H30/sign.pem");
  ASSERT_TRUE(store->VerifyPem(pem).ok());
  clock_.Advance(absl::Hours(24 * 900));  // past the 825-day validity
  EXPECT_EQ(store->VerifyPem(pem).problem, CertProblem::kExpired);
  clock_.Advance(-absl::Hours(24 * 1000));  // before it was issued
  EXPECT_EQ(store->VerifyPem(pem).problem, CertProblem::kExpired);
}

TEST_F(TrustStoreTest, ExpiredCertificateFromTheCa) {
  ASSERT_EQ(
      testing::RunPkiScript("agency", pki_,
                            "000.00.00.H29 1 20200101000000Z 20200201000000Z",
                            "DX_PKI_FOLDER=expired"),
      0);
  auto store = Store();
  CertVerdict v = store->VerifyPem(Pem("/agencies/expired/sign.pem"));
  EXPECT_EQ(v.problem, CertProblem::kExpired) << v.message;
}

TEST_F(TrustStoreTest, ExpiredCrlRefusesEveryoneWithAClearMessage) {
  auto store = Store();
  clock_.Advance(absl::Hours(24 * 31));  // the dev CRL is good for 30 days
  CertVerdict v = store->VerifyPem(Pem("/agencies/000.00.00.H30/tls.pem"));
  EXPECT_EQ(v.problem, CertProblem::kUntrusted);
  EXPECT_NE(v.message.find("fresh CRL"), std::string::npos) << v.message;
}

TEST_F(TrustStoreTest, RequiresACrlUnlessTold) {
  TrustStore::Options o;
  o.ca_file = pki_ + "/root-ca.pem";
  o.require_crl = true;
  EXPECT_FALSE(TrustStore::Create(o).ok());
  o.require_crl = false;
  EXPECT_TRUE(TrustStore::Create(o).ok());
}

TEST_F(TrustStoreTest, CaCertificateIsNotAnIdentity) {
  auto store = Store();
  CertVerdict v = store->VerifyPem(Pem("/intermediate-ca.pem"));
  EXPECT_FALSE(v.ok());
}

TEST_F(TrustStoreTest, GarbageIsMalformed) {
  auto store = Store();
  EXPECT_EQ(store->VerifyDer("garbage").problem, CertProblem::kMalformed);
  EXPECT_EQ(store->VerifyPem("garbage").problem, CertProblem::kMalformed);
}

}  // namespace
}  // namespace dx::certs
