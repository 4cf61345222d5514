#include "certs/crypto.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <cstdlib>

#include "certs/testing/dev_pki.h"
#include "common/files.h"
#include "common/testing/temp_dir.h"

namespace dx::certs {
namespace {

using testing::DevPkiDir;
using testing::ReadOrDie;

std::unique_ptr<Signer> AgencySigner(const std::string& code) {
  const std::string dir = DevPkiDir() + "/agencies/" + code;
  auto s = Signer::FromFiles(dir + "/sign.key", dir + "/sign.pem");
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

TEST(CryptoTest, Sha256KnownAnswer) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CryptoTest, HmacSha256KnownAnswerRfc4231) {
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(CryptoTest, SignThenVerify) {
  auto signer = AgencySigner("000.00.00.H30");
  auto sig = signer->Sign("envelope bytes");
  ASSERT_TRUE(sig.ok());
  auto cert = ParseCertificateDer(signer->certificate_der());
  ASSERT_TRUE(cert.ok());
  EVP_PKEY* key = X509_get0_pubkey(cert->get());
  EXPECT_TRUE(VerifySignature(key, "envelope bytes", *sig));
  EXPECT_FALSE(VerifySignature(key, "envelope bytez", *sig));
  std::string bad = *sig;
  bad[bad.size() / 2] ^= 1;
  EXPECT_FALSE(VerifySignature(key, "envelope bytes", bad));
  EXPECT_FALSE(VerifySignature(key, "envelope bytes", ""));
}

TEST(CryptoTest, OtherAgencysKeyDoesNotVerify) {
  auto h30 = AgencySigner("000.00.00.H30");
  auto h29 = AgencySigner("000.00.00.H29");
  auto sig = h30->Sign("x");
  auto cert = ParseCertificateDer(h29->certificate_der());
  EXPECT_FALSE(VerifySignature(X509_get0_pubkey(cert->get()), "x", *sig));
}

TEST(CryptoTest, KeyMustMatchCertificate) {
  const std::string dir = DevPkiDir() + "/agencies/";
  auto s = Signer::FromPem(ReadOrDie(dir + "000.00.00.H30/sign.key"),
                           ReadOrDie(dir + "000.00.00.H29/sign.pem"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("does not match"), std::string::npos);
}

TEST(CryptoTest, RejectsNonP256Keys) {
  const std::string dir = testing::MakeTempDir("keys");
  ASSERT_EQ(
      std::system(("openssl genpkey -algorithm EC -pkeyopt "
                   "ec_paramgen_curve:P-384 -out " +
                   dir + "/k.pem 2>/dev/null && openssl req -x509 -new -key " +
                   dir + "/k.pem -subj /CN=x -days 1 -out " + dir +
                   "/c.pem 2>/dev/null")
                      .c_str()),
      0);
  auto s = Signer::FromFiles(dir + "/k.pem", dir + "/c.pem");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("P-256"), std::string::npos)
      << s.status();
}

TEST(CryptoTest, ParseRejectsGarbageAndTrailingBytes) {
  EXPECT_FALSE(ParseCertificateDer("not a certificate").ok());
  auto signer = AgencySigner("000.00.00.H30");
  EXPECT_TRUE(ParseCertificateDer(signer->certificate_der()).ok());
  EXPECT_FALSE(ParseCertificateDer(signer->certificate_der() + "x").ok());
  EXPECT_FALSE(ParseCertificatePem("-----BEGIN CERTIFICATE-----\nAAAA\n").ok());
}

}  // namespace
}  // namespace dx::certs

namespace dx::certs {
namespace {

// Found by fuzz_audit_bundle: an unparsable intermediate leaked the store
// (caught by LeakSanitizer in make test-asan).
TEST(CryptoTest, VerifyChainAtRefusesGarbageWithoutLeaking) {
  auto signer = AgencySigner("000.00.00.H30");
  const std::string root =
      PemBundleToDer(testing::ReadOrDie(DevPkiDir() + "/root-ca.pem"))->front();
  const std::string inter =
      PemBundleToDer(testing::ReadOrDie(DevPkiDir() + "/intermediate-ca.pem"))
          ->front();
  EXPECT_TRUE(VerifyChainAt(signer->certificate_der(), {inter}, {root},
                            absl::ToUnixSeconds(absl::Now()))
                  .ok());
  EXPECT_FALSE(
      VerifyChainAt(signer->certificate_der(), {"garbage"}, {root}, 0).ok());
  EXPECT_FALSE(
      VerifyChainAt(signer->certificate_der(), {inter}, {"garbage"}, 0).ok());
  EXPECT_FALSE(VerifyChainAt("garbage", {inter}, {root}, 0).ok());
  EXPECT_FALSE(VerifyChainAt(signer->certificate_der(), {}, {root},
                             absl::ToUnixSeconds(absl::Now()))
                   .ok());  // no path without the intermediate
}

}  // namespace
}  // namespace dx::certs
