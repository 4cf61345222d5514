// What a consumer may ask: query keys decided by the policy as fields are
// (issue 24): undeclared keys, forbidden, ungranted and masked fields, the
// grant's explicit query_keys, and explain answering as the exchange does.
#include "dx/v1/policy.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/explain.h"
#include "policy/snapshot.h"
#include "policy/testing/fixtures.h"

namespace dx::policy {
namespace {

using testing::Doc;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1764000000);

constexpr char kRegistry[] = R"(
agencies:
  - {code: 000.00.00.G01}
  - {code: 000.00.00.H30}
  - {code: 000.00.00.G12}
datasets:
  - id: pop
    provider_agency: 000.00.00.G01
    category: shared
    restriction_legal_basis: Law on Data 2024 Art. 18
    adapter: {address: "127.0.0.1:1"}
    fields:
      - {name: citizen_id, tags: [personal]}
      - {name: full_name, tags: [personal]}
      - {name: birth_date, tags: [personal]}
      - {name: province_code}
      - {name: ethnicity, tags: [sensitive_personal]}
      - {name: sex, tags: [personal]}
    query_keys:
      - {field: citizen_id, prefix: true}
      - {field: full_name, prefix: true}
      - {field: birth_date, range: true}
      - {field: province_code}
      - {field: ethnicity}
      - {key: gender, field: sex}
  - id: open.stats
    provider_agency: 000.00.00.G12
    category: open
    adapter: {address: "127.0.0.1:1"}
    fields: [{name: region}, {name: contact, tags: [personal]}]
    query_keys: [{field: region}, {field: contact}]
  - id: needs.key
    provider_agency: 000.00.00.G12
    category: open
    adapter: {address: "127.0.0.1:1"}
    fields: [{name: code}]
    query_keys: [{field: code, required: true, prefix: true}]
  - id: nokeys
    provider_agency: 000.00.00.G12
    category: open
    adapter: {address: "127.0.0.1:1"}
    fields: [{name: code}]
)";

constexpr char kPolicy[] = R"(
datasets:
  - dataset: pop
    grants:
      - id: lookup
        consumers: [000.00.00.H30]
        purposes: [p]
        fields: [citizen_id, full_name, birth_date]
        masks: [{field: citizen_id, kind: partial, keep_last: 4},
                {field: birth_date, kind: full}]
        query_keys: [province_code]
        legal_basis: Law X
      - id: later-wider
        consumers: [000.00.00.H30]
        purposes: [q]
        fields: [full_name]
        legal_basis: Law Y
      - id: later-wider-2
        consumers: [000.00.00.H30]
        purposes: [q]
        fields: [full_name, sex]
        legal_basis: Law Z
    forbids:
      - id: no-ethnicity
        consumers: [000.00.00.H30]
        fields: [ethnicity]
        legal_basis: Decree 13/2023 Art. 2(4)
)";

class QueryKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto reg = registry::Registry::FromYaml(kRegistry, "registry.yaml");
    ASSERT_TRUE(reg.ok()) << reg.status();
    auto s = PolicySnapshot::Compile(*reg, Doc(kPolicy), nullptr, 3, kNow,
                                     &problems_);
    ASSERT_TRUE(s.ok()) << s.status();
    snap_ = *s;
  }
  AccessDecision Decide(std::vector<std::string> keys,
                        const std::string& agency = "000.00.00.H30",
                        const std::string& purpose = "p",
                        const std::string& dataset = "pop",
                        std::vector<std::string> fields = {"full_name"}) {
    AccessRequest r;
    r.consumer_agency = agency;
    r.dataset_id = dataset;
    r.purpose_code = purpose;
    r.fields = std::move(fields);
    r.query_keys = std::move(keys);
    return snap_->Decide(r, kNow);
  }
  // The same question through explain: it must give the same answer.
  void ExpectExplainAgrees(const AccessDecision& d,
                           std::vector<std::string> keys,
                           const std::string& agency = "000.00.00.H30",
                           const std::string& purpose = "p",
                           const std::string& dataset = "pop") {
    v1::ExplainRequest r;
    r.set_consumer_agency(agency);
    r.set_dataset(dataset);
    r.set_purpose_code(purpose);
    r.add_fields("full_name");
    for (auto& k : keys) r.add_query_keys(k);
    v1::ExplainResponse e = Explain(*snap_, r, kNow);
    EXPECT_EQ(e.allowed(), d.allowed);
    if (!d.allowed) {
      EXPECT_EQ(e.reason(), d.reason);
    }
    EXPECT_EQ(e.rule_id(), d.rule_id);
    EXPECT_EQ(e.legal_basis(), d.legal_basis);
  }
  std::vector<PolicyProblem> problems_;
  std::shared_ptr<const PolicySnapshot> snap_;
};

TEST_F(QueryKeysTest, AnUndeclaredKeyIsRefusedNamingTheAcceptedOnes) {
  for (const char* key : {"salary", "province_code.prefix", "citizen_id.from",
                          "sex", "gender.prefix", ".prefix", ""}) {
    AccessDecision d = Decide({key});
    EXPECT_FALSE(d.allowed) << key;
    EXPECT_EQ(d.code, absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(d.reason, v1::REASON_UNKNOWN_QUERY_KEY) << key;
    EXPECT_THAT(d.message, HasSubstr("citizen_id.prefix, full_name")) << key;
    EXPECT_THAT(d.message, HasSubstr("birth_date.from, birth_date.to"));
    ExpectExplainAgrees(d, {key});
  }
  // Even for the owner: the registry's contract, not the policy's.
  EXPECT_EQ(Decide({"salary"}, "000.00.00.G01").reason,
            v1::REASON_UNKNOWN_QUERY_KEY);
  AccessDecision none = Decide({"code"}, "000.00.00.G12", "x", "nokeys", {});
  EXPECT_EQ(none.reason, v1::REASON_UNKNOWN_QUERY_KEY);
  EXPECT_THAT(none.message, HasSubstr("accepts no query keys"));
}

TEST_F(QueryKeysTest, AForbiddenFieldCannotBeAskedAbout) {
  AccessDecision d = Decide({"ethnicity"});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(d.reason, v1::REASON_QUERY_NOT_ALLOWED);
  EXPECT_EQ(d.rule_id, "no-ethnicity");
  EXPECT_EQ(d.legal_basis, "Decree 13/2023 Art. 2(4)");
  EXPECT_THAT(d.message, HasSubstr("ethnicity"));
  ExpectExplainAgrees(d, {"ethnicity"});
  // The forbid names H30 only: the owner still asks by it.
  EXPECT_TRUE(Decide({"ethnicity"}, "000.00.00.G01").allowed);
}

TEST_F(QueryKeysTest, AFieldTheGrantDoesNotLetItReadCannotBeAskedAbout) {
  AccessDecision d = Decide({"gender"});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(d.reason, v1::REASON_QUERY_NOT_ALLOWED);
  EXPECT_EQ(d.rule_id, "lookup");
  EXPECT_EQ(d.legal_basis, "Law on Data 2024 Art. 18");
  EXPECT_THAT(d.message, HasSubstr("'gender' matches field sex"));
  ExpectExplainAgrees(d, {"gender"});
  // Reading the field is not asked for: the key alone is refused.
  EXPECT_FALSE(Decide({"full_name", "gender"}).allowed);
  // No grant at all: the ordinary refusal, not a query one.
  EXPECT_EQ(Decide({"gender"}, "000.00.00.G12").reason,
            v1::REASON_POLICY_DENIED);
}

TEST_F(QueryKeysTest, AMaskedFieldIsMatchedByEqualityOnly) {
  EXPECT_TRUE(Decide({"citizen_id"}).allowed);
  EXPECT_TRUE(Decide({"birth_date"}).allowed);
  for (const char* key :
       {"citizen_id.prefix", "birth_date.from", "birth_date.to"}) {
    AccessDecision d = Decide({key});
    EXPECT_FALSE(d.allowed) << key;
    EXPECT_EQ(d.reason, v1::REASON_QUERY_NOT_ALLOWED) << key;
    EXPECT_EQ(d.rule_id, "lookup");
    EXPECT_THAT(d.message, HasSubstr("masked"));
    ExpectExplainAgrees(d, {key});
  }
  // An unmasked field by prefix is fine.
  EXPECT_TRUE(Decide({"full_name.prefix"}).allowed);
}

TEST_F(QueryKeysTest, AGrantNamesExtraLookUpKeysThatAreNotReturned) {
  AccessDecision d = Decide({"province_code"});
  ASSERT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.rule_id, "lookup");
  EXPECT_EQ(d.fields, std::vector<std::string>{"full_name"});
  // "All I may read" does not add it either.
  AccessDecision all =
      Decide({"province_code"}, "000.00.00.H30", "p", "pop", {});
  ASSERT_TRUE(all.allowed);
  EXPECT_EQ(std::count(all.fields.begin(), all.fields.end(), "province_code"),
            0);
  ExpectExplainAgrees(d, {"province_code"});
}

TEST_F(QueryKeysTest, ALaterGrantThatCoversTheQueryDecides) {
  AccessDecision d = Decide({"gender"}, "000.00.00.H30", "q");
  ASSERT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.rule_id, "later-wider-2");
}

TEST_F(QueryKeysTest, OpenDataIsAskedAboutByItsOpenFieldsOnly) {
  EXPECT_TRUE(Decide({"region"}, "000.00.00.H30", "x", "open.stats", {"region"})
                  .allowed);
  AccessDecision d =
      Decide({"contact"}, "000.00.00.H30", "x", "open.stats", {"region"});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, v1::REASON_QUERY_NOT_ALLOWED);
  EXPECT_EQ(d.rule_id, "default:open");
}

TEST_F(QueryKeysTest, ARequiredKeyMustBeSentInOneOfItsForms) {
  AccessDecision d = Decide({}, "000.00.00.H30", "x", "needs.key", {});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.message, HasSubstr("'code' is required"));
  EXPECT_TRUE(
      Decide({"code.prefix"}, "000.00.00.H30", "x", "needs.key", {}).allowed);
}

TEST_F(QueryKeysTest, ValidateWarnsWhereAGrantNoLongerCoversADeclaredKey) {
  std::vector<std::string> texts;
  for (const auto& p : problems_) {
    if (!p.error) texts.push_back(p.path + ": " + p.message);
  }
  // lookup: province_code is named; ethnicity and gender are not readable;
  // citizen_id.prefix and birth_date's range are masked.
  EXPECT_THAT(texts, ::testing::Contains(HasSubstr(
                         "grants[0].query_keys: grant lookup does not let its "
                         "consumers read the field(s) that query key(s) "
                         "ethnicity, gender match")));
  EXPECT_THAT(texts, ::testing::Contains(HasSubstr(
                         "grants[0].masks: grant lookup masks the field(s) of "
                         "citizen_id.prefix; birth_date.from/.to")));
}

TEST_F(QueryKeysTest, AGrantsQueryKeysMustBeDeclaredAndNotWidenAMask) {
  auto reg = registry::Registry::FromYaml(kRegistry, "registry.yaml");
  ASSERT_TRUE(reg.ok());
  std::vector<PolicyProblem> problems;
  auto s = PolicySnapshot::Compile(*reg, Doc(R"(
datasets:
  - dataset: pop
    grants:
      - id: g
        consumers: [000.00.00.H30]
        purposes: [p]
        fields: [citizen_id]
        masks: [{field: citizen_id, kind: full}]
        query_keys: [salary, citizen_id.prefix]
        legal_basis: L
)"),
                                   nullptr, 1, kNow, &problems);
  ASSERT_FALSE(s.ok());
  std::vector<std::string> errors;
  for (const auto& p : problems)
    if (p.error) errors.push_back(p.path + ": " + p.message);
  EXPECT_THAT(errors, ::testing::Contains(HasSubstr(
                          "grants[0].query_keys[0]: 'salary' is not a query "
                          "key of this dataset")));
  EXPECT_THAT(errors,
              ::testing::Contains(HasSubstr("grants[0].query_keys[1]: field "
                                            "'citizen_id' is served masked")));
}

}  // namespace
}  // namespace dx::policy
