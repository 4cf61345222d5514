// State secrets in the policy: the compiler refuses grants that would let
// one leave, and Decide refuses every request for one (state_secret.cc).
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/snapshot.h"
#include "policy/testing/fixtures.h"

namespace dx::policy {
namespace {

using testing::Doc;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1764000000);

constexpr char kAgencies[] = R"(
agencies:
  - {code: 000.00.00.G01, name: owner}
  - {code: 000.00.00.H30, name: province 30}
)";

// `mark` is spliced into the dataset (" state_secret: true" or "").
std::shared_ptr<const registry::Registry> Registry(bool dataset_marked) {
  std::string yaml = absl::StrCat(kAgencies, R"(
datasets:
  - id: defence
    provider_agency: 000.00.00.G01
    category: shared
    adapter: {address: "127.0.0.1:1"}
    state_secret: )",
                                  dataset_marked ? "true" : "false", R"(
    fields: [{name: unit}, {name: strength}]
  - id: pop
    provider_agency: 000.00.00.G01
    category: open
    adapter: {address: "127.0.0.1:1"}
    query_keys: [{field: citizen_id}, {key: code, field: code_name}]
    fields:
      - {name: citizen_id}
      - {name: full_name}
      - {name: code_name, state_secret: true}
)");
  auto r = registry::Registry::FromYaml(yaml, "registry.yaml");
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

constexpr char kGrantDefence[] = R"(
datasets:
  - dataset: defence
    grants:
      - {id: g, consumers: [000.00.00.H30], purposes: [p], legal_basis: x}
)";

absl::StatusOr<std::shared_ptr<const PolicySnapshot>> Compile(
    std::shared_ptr<const registry::Registry> registry, const std::string& doc,
    std::vector<PolicyProblem>* problems = nullptr) {
  return PolicySnapshot::Compile(std::move(registry), Doc(doc), nullptr, 1,
                                 kNow, problems);
}

AccessDecision Decide(const PolicySnapshot& snap, const std::string& agency,
                      const std::string& dataset,
                      std::vector<std::string> fields = {},
                      std::vector<std::string> keys = {}) {
  AccessRequest r = testing::Req(agency, dataset, "p");
  r.fields = std::move(fields);
  r.query_keys = std::move(keys);
  return snap.Decide(r, kNow);
}

TEST(StateSecretCompile, AGrantOfAMarkedDatasetIsRefusedWithTheReason) {
  std::vector<PolicyProblem> problems;
  auto s = Compile(Registry(true), kGrantDefence, &problems);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("datasets[0].grants[0]"));
  EXPECT_THAT(s.status().message(),
              HasSubstr("dataset defence is marked state_secret"));
  EXPECT_THAT(s.status().message(), HasSubstr("Decision 1562/QĐ-TTg"));
  // The same grant, the dataset unmarked: accepted.
  EXPECT_TRUE(Compile(Registry(false), kGrantDefence).ok());
}

TEST(StateSecretCompile,
     GrantsNamingQueryingOrFilteringByAMarkedFieldAreRefused) {
  const char* kGrants[] = {
      "{id: g, consumers: ['*'], purposes: [p], legal_basis: x, "
      "fields: [full_name, code_name]}",
      "{id: g, consumers: ['*'], purposes: [p], legal_basis: x, "
      "fields: [full_name], query_keys: [code]}",
      "{id: g, consumers: ['*'], purposes: [p], legal_basis: x, "
      "fields: [full_name], row_filter: \"code_name == 'X'\"}",
  };
  const char* kWhat[] = {"grants field(s) code_name", "query_keys match",
                         "row filter reads"};
  for (int i = 0; i < 3; ++i) {
    auto s = Compile(Registry(false),
                     absl::StrCat("datasets:\n  - dataset: pop\n    grants:\n"
                                  "      - ",
                                  kGrants[i], "\n"));
    ASSERT_FALSE(s.ok()) << kGrants[i];
    EXPECT_THAT(s.status().message(), HasSubstr(kWhat[i]));
    EXPECT_THAT(s.status().message(), HasSubstr("state_secret"));
  }
}

TEST(StateSecretCompile, AnAllFieldsGrantNeverIncludesAMarkedField) {
  auto s = Compile(Registry(false), R"(
datasets:
  - dataset: pop
    grants:
      - {id: all, consumers: [000.00.00.H30], purposes: [p], legal_basis: x}
)");
  ASSERT_TRUE(s.ok()) << s.status();
  AccessDecision d = Decide(**s, "000.00.00.H30", "pop");
  ASSERT_TRUE(d.allowed) << d.message;
  EXPECT_THAT(d.fields, ElementsAre("citizen_id", "full_name"));
  // The owner's "all" and open data's "all" leave it out too.
  EXPECT_THAT(Decide(**s, "000.00.00.G01", "pop").fields,
              ElementsAre("citizen_id", "full_name"));
  EXPECT_THAT(Decide(**s, "000.00.00.G99", "pop").fields,
              Not(::testing::Contains("code_name")));
}

TEST(StateSecretDecide, EveryRequestForAMarkedDatasetIsRefusedTheOwnersToo) {
  auto s = Compile(Registry(true), "datasets: []");
  ASSERT_TRUE(s.ok()) << s.status();
  for (const char* agency : {"000.00.00.G01", "000.00.00.H30"}) {
    AccessDecision d = Decide(**s, agency, "defence", {"unit"});
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.reason, v1::REASON_STATE_SECRET) << agency;
    EXPECT_EQ(d.code, absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(d.message, HasSubstr("is a state secret and never travels "
                                     "over dxgate"));
    EXPECT_EQ(d.legal_basis, "Decision 1562/QĐ-TTg");
  }
}

TEST(StateSecretDecide, AskingOrQueryingByAMarkedFieldIsRefused) {
  auto s = Compile(Registry(false), "datasets: []");
  ASSERT_TRUE(s.ok()) << s.status();
  // The owner may read its open dataset, but not the marked field.
  AccessDecision asked =
      Decide(**s, "000.00.00.G01", "pop", {"full_name", "code_name"});
  EXPECT_EQ(asked.reason, v1::REASON_STATE_SECRET);
  EXPECT_THAT(asked.message, HasSubstr("field(s) code_name of dataset pop"));
  AccessDecision queried =
      Decide(**s, "000.00.00.G01", "pop", {"full_name"}, {"code"});
  EXPECT_FALSE(queried.allowed);
  EXPECT_EQ(queried.reason, v1::REASON_STATE_SECRET);
  EXPECT_TRUE(Decide(**s, "000.00.00.G01", "pop", {"full_name"}, {"citizen_id"})
                  .allowed);
}

TEST(StateSecretDecide, AMarkSetUnderAGrantInForceDisablesItAndDenies) {
  auto before = Compile(Registry(false), kGrantDefence);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(Decide(**before, "000.00.00.H30", "defence").allowed);
  // The registry gains the mark: the stored policy compiles (a node keeps
  // serving), with a warning naming the disabled grant, and denies.
  std::vector<PolicyProblem> problems;
  auto after = PolicySnapshot::Compile(Registry(true), v1::PolicyDocument(),
                                       before->get(), 1, kNow, &problems);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_FALSE(problems.empty());
  EXPECT_FALSE(problems[0].error);
  EXPECT_THAT(problems[0].message, HasSubstr("stored grant is disabled"));
  AccessDecision d = Decide(**after, "000.00.00.H30", "defence");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, v1::REASON_STATE_SECRET);
  // A node loading the whole store at start tolerates it the same way.
  auto loaded = PolicySnapshot::Compile(Registry(true), Doc(kGrantDefence),
                                        nullptr, 1, kNow, nullptr,
                                        /*tolerate_state_secret_grants=*/true);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(Decide(**loaded, "000.00.00.H30", "defence").reason,
            v1::REASON_STATE_SECRET);
}

}  // namespace
}  // namespace dx::policy
