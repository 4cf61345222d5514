#include "certs/expiry.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "certs/testing/dev_pki.h"

namespace dx::certs {
namespace {

// What the openssl CLI says, as an independent check.
absl::Time OpensslDate(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  char buf[256] = {};
  EXPECT_NE(fgets(buf, sizeof(buf), p.get()), nullptr) << cmd;
  std::string line = buf;
  // "Mar  3 10:00:00 2029 GMT": one space between the parts.
  std::string date = absl::StrJoin(
      absl::StrSplit(line.substr(line.find('=') + 1), ' ', absl::SkipEmpty()),
      " ");
  absl::StripAsciiWhitespace(&date);
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime("%b %d %H:%M:%S %Y GMT", date, &t, &err))
      << date << ": " << err;
  return t;
}

TEST(ExpiryTest, EveryCertificateOfAChainAndTheCrlsNextUpdate) {
  const std::string pki = testing::DevPkiDir();
  auto chain = CertificateExpiries(pki + "/gateway/tls.pem", "gateway TLS");
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 2u);  // the leaf and its issuer
  EXPECT_EQ((*chain)[0].subject, "gateway:gw1");
  EXPECT_EQ((*chain)[0].what, "gateway TLS");
  EXPECT_EQ((*chain)[0].not_after,
            OpensslDate("openssl x509 -enddate -noout -in " + pki +
                        "/gateway/tls.leaf.pem"));
  EXPECT_NE((*chain)[1].subject.find("CN="), std::string::npos);

  auto crl = CrlNextUpdates(pki + "/crl.pem");
  ASSERT_TRUE(crl.ok()) << crl.status();
  ASSERT_EQ(crl->size(), 1u);
  EXPECT_EQ(
      (*crl)[0].not_after,
      OpensslDate("openssl crl -nextupdate -noout -in " + pki + "/crl.pem"));
  EXPECT_GT((*crl)[0].not_after, absl::Now());

  EXPECT_FALSE(CertificateExpiries(pki + "/no-such.pem", "x").ok());
  EXPECT_FALSE(CrlNextUpdates(pki + "/root-ca.pem").ok());  // no CRL in it
}

}  // namespace
}  // namespace dx::certs
