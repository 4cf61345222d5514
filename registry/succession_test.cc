// Successions in the registry: parsed, validated (unknown codes, onto
// itself, cycles, dates) and read as state at a time and lineage.
#include "registry/succession.h"

#include <gtest/gtest.h>

#include "common/yaml_proto.h"
#include "registry/registry.h"

namespace dx::registry {
namespace {

constexpr char kAgencies[] = R"(
agencies:
  - code: 000.00.00.G01
  - code: 000.00.00.H30
  - code: 000.00.00.H31
  - code: 000.00.00.H32
  - code: 000.00.00.H40
datasets:
  - id: bca.population
    provider_agency: 000.00.00.G01
    adapter: {address: "127.0.0.1:1"}
    fields: [{name: citizen_id}]
)";

absl::StatusOr<std::shared_ptr<const Registry>> Load(
    const std::string& successions) {
  return Registry::FromYaml(std::string(kAgencies) + successions, "reg.yaml");
}

void ExpectRefused(const std::string& successions, const std::string& field,
                   const std::string& what) {
  auto r = Load(successions);
  ASSERT_FALSE(r.ok()) << successions;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status();
}

TEST(SuccessionTest, ParsesAndAnswersStateAndLineage) {
  auto r = Load(R"(
successions:
  - agency: 000.00.00.H30
    successors: [000.00.00.H31]
    effective: "2025-07-01T00:00:00+07:00"
    grace_until: "2025-10-01T00:00:00+07:00"
    legal_basis: Resolution 202/2025/QH15
  - agency: 000.00.00.H32
    successors: [000.00.00.H31]
    effective: "2025-07-01T00:00:00+07:00"
    legal_basis: Resolution 202/2025/QH15
)");
  ASSERT_TRUE(r.ok()) << r.status();
  const Successions& s = (*r)->successions();
  const absl::Time effective = absl::FromUnixSeconds(1751302800);  // 07-01 +7
  EXPECT_EQ(s.StateAt("000.00.00.H30", effective - absl::Seconds(1)),
            SuccessionState::kActive);
  EXPECT_EQ(s.StateAt("000.00.00.H30", effective), SuccessionState::kInGrace);
  EXPECT_EQ(s.StateAt("000.00.00.H30", effective + absl::Hours(24 * 93)),
            SuccessionState::kSucceeded);
  EXPECT_EQ(s.StateAt("000.00.00.H32", effective),
            SuccessionState::kSucceeded);  // no grace
  EXPECT_EQ(s.StateAt("000.00.00.H31", effective), SuccessionState::kActive);
  EXPECT_EQ(s.Lineage("000.00.00.H31"),
            (std::vector<std::string>{"000.00.00.H31", "000.00.00.H30",
                                      "000.00.00.H32"}));
  // From one old code, its successor and the successor's other
  // predecessor: all one lineage.
  EXPECT_EQ(s.Lineage("000.00.00.H30"),
            (std::vector<std::string>{"000.00.00.H30", "000.00.00.H31",
                                      "000.00.00.H32"}));
  EXPECT_EQ(s.Lineage("000.00.00.G01"),
            (std::vector<std::string>{"000.00.00.G01"}));
  EXPECT_EQ(s.Predecessors("000.00.00.H31"),
            (std::vector<std::string>{"000.00.00.H30", "000.00.00.H32"}));
  const std::string text = SuccessionText(*s.Find("000.00.00.H30"));
  EXPECT_EQ(text,
            "agency 000.00.00.H30 was succeeded by 000.00.00.H31 on "
            "2025-06-30T17:00:00+00:00 (Resolution 202/2025/QH15)");
}

TEST(SuccessionTest, RefusesUnknownCodes) {
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H99, successors: [000.00.00.H31], effective: "2025-07-01T00:00:00Z", legal_basis: R}
)",
                "successions[0].agency", "'000.00.00.H99' is not in agencies");
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H30, successors: [000.00.00.H98], effective: "2025-07-01T00:00:00Z", legal_basis: R}
)",
                "successions[0].successors",
                "successor '000.00.00.H98' is not in agencies");
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H30, successors: [], effective: "2025-07-01T00:00:00Z", legal_basis: R}
)",
                "successions[0].successors", "at least one");
}

TEST(SuccessionTest, RefusesSuccessionOntoItselfAndCycles) {
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H30, successors: [000.00.00.H30], effective: "2025-07-01T00:00:00Z", legal_basis: R}
)",
                "successions[0].successors", "cannot succeed itself");
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H30, successors: [000.00.00.H31], effective: "2025-07-01T00:00:00Z", legal_basis: R}
  - {agency: 000.00.00.H31, successors: [000.00.00.H32], effective: "2025-07-01T00:00:00Z", legal_basis: R}
  - {agency: 000.00.00.H32, successors: [000.00.00.H30], effective: "2025-07-01T00:00:00Z", legal_basis: R}
)",
                "successions[0].successors", "a cycle");
  // A chain that ends is fine.
  EXPECT_TRUE(Load(R"(
successions:
  - {agency: 000.00.00.H30, successors: [000.00.00.H31], effective: "2025-07-01T00:00:00Z", legal_basis: R}
  - {agency: 000.00.00.H31, successors: [000.00.00.H32, 000.00.00.H40], effective: "2026-07-01T00:00:00Z", legal_basis: R}
)")
                  .ok());
}

TEST(SuccessionTest, RefusesBadDatesAndMissingLegalBasisAndDuplicates) {
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H30, successors: [000.00.00.H31], effective: "1 July 2025", legal_basis: R}
)",
                "successions[0].effective", "is not an RFC 3339 time");
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H30, successors: [000.00.00.H31], legal_basis: R}
)",
                "successions[0].effective", "is not an RFC 3339 time");
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H30, successors: [000.00.00.H31], effective: "2025-07-01T00:00:00Z", grace_until: "2025-06-01T00:00:00Z", legal_basis: R}
)",
                "successions[0].grace_until", "must be after effective");
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H30, successors: [000.00.00.H31], effective: "2025-07-01T00:00:00Z", grace_until: "soon", legal_basis: R}
)",
                "successions[0].grace_until", "is not an RFC 3339 time");
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H30, successors: [000.00.00.H31], effective: "2025-07-01T00:00:00Z"}
)",
                "successions[0].legal_basis", "must cite");
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H30, successors: [000.00.00.H31], effective: "2025-07-01T00:00:00Z", legal_basis: R}
  - {agency: 000.00.00.H30, successors: [000.00.00.H32], effective: "2025-07-01T00:00:00Z", legal_basis: R}
)",
                "successions[1].agency", "already has a succession");
  ExpectRefused(R"(
successions:
  - {agency: 000.00.00.H30, successors: [000.00.00.H31, 000.00.00.H31], effective: "2025-07-01T00:00:00Z", legal_basis: R}
)",
                "successions[0].successors", "listed twice");
}

TEST(SuccessionTest, ErrorsNameTheLine) {
  auto r = Load(R"(
successions:
  - agency: 000.00.00.H30
    successors: [000.00.00.H31]
    effective: "not a date"
    legal_basis: R
)");
  ASSERT_FALSE(r.ok());
  // "effective" is the 17th line of kAgencies + the text above.
  EXPECT_NE(r.status().message().find("reg.yaml:17:"), std::string::npos)
      << r.status();
}

}  // namespace
}  // namespace dx::registry
