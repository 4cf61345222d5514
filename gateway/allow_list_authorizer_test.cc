#include "gateway/allow_list_authorizer.h"

#include <gtest/gtest.h>

#include "common/yaml_proto.h"

namespace dx::gateway {
namespace {

class AllowListAuthorizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(YamlToProto(R"(
id: bca.population
provider_agency: 000.00.00.G01
restriction_legal_basis: Law on Data 2024 Art. 18
fields: [{name: citizen_id}, {name: full_name}, {name: ethnicity}]
access:
  - id: narrow
    consumers: [H30]
    purposes: [civil-registration]
    fields: [citizen_id, full_name]
  - id: all-fields
    consumers: [H29]
    purposes: [census]
)",
                            "ds.yaml", &dataset_)
                    .ok());
  }
  AccessDecision Decide(const std::string& consumer, const std::string& purpose,
                        std::vector<std::string> fields) {
    AccessRequest r;
    r.consumer_agency = consumer;
    r.dataset = &dataset_;
    r.purpose_code = purpose;
    r.fields = std::move(fields);
    return authorizer_.Decide(r);
  }
  v1::Dataset dataset_;
  AllowListAuthorizer authorizer_;
};

TEST_F(AllowListAuthorizerTest, NoFieldsMeansEverythingGranted) {
  AccessDecision d = Decide("H30", "civil-registration", {});
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.fields, (std::vector<std::string>{"citizen_id", "full_name"}));
  EXPECT_EQ(d.rule_id, "narrow");
  EXPECT_FALSE(d.policy_version.empty());
  d = Decide("H29", "census", {});
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.fields.size(), 3u);
}

TEST_F(AllowListAuthorizerTest, GrantedSubsetIsAllowedInRequestedOrder) {
  AccessDecision d = Decide("H30", "civil-registration", {"full_name"});
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.fields, std::vector<std::string>{"full_name"});
}

TEST_F(AllowListAuthorizerTest, UngrantedFieldIsDeniedWithLegalBasis) {
  AccessDecision d =
      Decide("H30", "civil-registration", {"full_name", "ethnicity"});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, v1::REASON_POLICY_DENIED);
  EXPECT_EQ(d.legal_basis, "Law on Data 2024 Art. 18");
  EXPECT_EQ(d.rule_id, "narrow");
  EXPECT_NE(d.message.find("ethnicity"), std::string::npos);
}

TEST_F(AllowListAuthorizerTest, WrongPurposeOrUnknownConsumerIsDenied) {
  AccessDecision d = Decide("H30", "marketing", {});
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.message.find("purpose 'marketing'"), std::string::npos);
  d = Decide("H01", "civil-registration", {});
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.message.find("no sharing grant"), std::string::npos);
  EXPECT_EQ(d.legal_basis, "Law on Data 2024 Art. 18");
}

}  // namespace
}  // namespace dx::gateway
