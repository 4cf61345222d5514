// A registry and policy documents written in YAML for policy tests.
#ifndef DX_POLICY_INTERNAL_TEST_FIXTURES_H_
#define DX_POLICY_INTERNAL_TEST_FIXTURES_H_

#include <string>

#include "common/yaml_proto.h"
#include "dx/v1/policy.pb.h"
#include "dx/v1/registry.pb.h"
#include "gtest/gtest.h"
#include "policy/decision.h"

namespace dx::policy::testing {

inline constexpr char kRegistryYaml[] = R"(
agencies:
  - {code: 000.00.00.G01, name: owner}
  - {code: 000.00.00.H30, name: province 30}
  - {code: 000.00.00.H29, name: province 29}
  - {code: 000.00.00.G12, name: finance}
datasets:
  - id: pop
    provider_agency: 000.00.00.G01
    category: shared
    restriction_legal_basis: Law on Data 2024 Art. 18
    fields:
      - {name: citizen_id, tags: [personal]}
      - {name: full_name, tags: [personal]}
      - {name: province_code}
      - {name: ethnicity, tags: [sensitive_personal]}
      - {name: status}
  - id: open.stats
    provider_agency: 000.00.00.G12
    category: open
    fields:
      - {name: region}
      - {name: count}
      - {name: contact_person, tags: [personal]}
  - id: secret
    provider_agency: 000.00.00.G01
    category: private
    fields:
      - {name: a}
      - {name: b, tags: [important]}
)";

inline v1::Registry TestRegistry() {
  v1::Registry r;
  absl::Status s = YamlToProto(kRegistryYaml, "registry.yaml", &r);
  EXPECT_TRUE(s.ok()) << s;
  return r;
}

inline v1::PolicyDocument Doc(const std::string& yaml) {
  v1::PolicyDocument d;
  absl::Status s = YamlToProto(yaml, "policy.yaml", &d);
  EXPECT_TRUE(s.ok()) << s;
  return d;
}

inline AccessRequest Req(const std::string& agency, const std::string& dataset,
                         const std::string& purpose) {
  AccessRequest r;
  r.consumer_agency = agency;
  r.dataset_id = dataset;
  r.purpose_code = purpose;
  return r;
}

}  // namespace dx::policy::testing

#endif  // DX_POLICY_INTERNAL_TEST_FIXTURES_H_
