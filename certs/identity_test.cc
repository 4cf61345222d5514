#include "certs/identity.h"

#include <gtest/gtest.h>

#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"

namespace dx::certs {
namespace {

TEST(IdentityTest, AgencyCodes) {
  EXPECT_TRUE(IsValidAgencyCode("000.00.00.G01"));
  EXPECT_TRUE(IsValidAgencyCode("H30"));
  EXPECT_FALSE(IsValidAgencyCode(""));
  EXPECT_FALSE(IsValidAgencyCode("000..00"));
  EXPECT_FALSE(IsValidAgencyCode(".000"));
  EXPECT_FALSE(IsValidAgencyCode("000."));
  EXPECT_FALSE(IsValidAgencyCode("000.00.00.g01"));  // lower case
  EXPECT_FALSE(IsValidAgencyCode("000.00.00.G01;DROP"));
  EXPECT_FALSE(IsValidAgencyCode(std::string(36, '1')));
  EXPECT_TRUE(IsValidAgencyCode(std::string(35, '1')));
}

X509Ptr Load(const std::string& rel) {
  auto c = ParseCertificatePem(testing::ReadOrDie(testing::DevPkiDir() + rel));
  EXPECT_TRUE(c.ok());
  return *std::move(c);
}

TEST(IdentityTest, PrincipalsFromDevPki) {
  auto agency = PrincipalOf(Load("/agencies/000.00.00.H30/tls.pem").get());
  ASSERT_TRUE(agency.ok()) << agency.status();
  EXPECT_EQ(agency->kind, PrincipalKind::kAgency);
  EXPECT_EQ(agency->id, "000.00.00.H30");
  auto gw = PrincipalOf(Load("/gateway/sign.pem").get());
  ASSERT_TRUE(gw.ok());
  EXPECT_EQ(gw->kind, PrincipalKind::kGateway);
  EXPECT_EQ(gw->id, "gw1");
  auto adapter = PrincipalOf(Load("/adapters/000.00.00.G01/tls.pem").get());
  ASSERT_TRUE(adapter.ok());
  EXPECT_EQ(adapter->kind, PrincipalKind::kAdapter);
}

TEST(IdentityTest, CertificateWithoutIdentityIsRefused) {
  auto p = PrincipalOf(Load("/root-ca.pem").get());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("urn:dx:agency"), std::string::npos);
}

}  // namespace
}  // namespace dx::certs
