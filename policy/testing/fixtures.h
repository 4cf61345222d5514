// A registry and policy documents written in YAML for policy tests.
#ifndef DX_POLICY_TESTING_FIXTURES_H_
#define DX_POLICY_TESTING_FIXTURES_H_

#include <string>

#include "absl/synchronization/notification.h"
#include "common/yaml_proto.h"
#include "dx/v1/policy.pb.h"
#include "dx/v1/registry.pb.h"
#include "gtest/gtest.h"
#include "policy/decision.h"
#include "registry/registry.h"

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
    adapter: {address: "127.0.0.1:1"}
    fields:
      - {name: citizen_id, tags: [personal]}
      - {name: full_name, tags: [personal]}
      - {name: province_code}
      - {name: ethnicity, tags: [sensitive_personal]}
      - {name: status}
  - id: open.stats
    provider_agency: 000.00.00.G12
    category: open
    adapter: {address: "127.0.0.1:1"}
    fields:
      - {name: region}
      - {name: count}
      - {name: contact_person, tags: [personal]}
  - id: secret
    provider_agency: 000.00.00.G01
    category: private
    adapter: {address: "127.0.0.1:1"}
    fields:
      - {name: a}
      - {name: b, tags: [important]}
)";

// One registry snapshot for the whole test process: snapshots compiled
// against the same object share their unchanged parts.
inline std::shared_ptr<const registry::Registry> TestRegistry() {
  static const auto* r = [] {
    auto loaded = registry::Registry::FromYaml(kRegistryYaml, "registry.yaml");
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return new std::shared_ptr<const registry::Registry>(*loaded);
  }();
  return *r;
}

inline v1::PolicyDocument Doc(const std::string& yaml) {
  v1::PolicyDocument d;
  absl::Status s = YamlToProto(yaml, "policy.yaml", &d);
  EXPECT_TRUE(s.ok()) << s;
  return d;
}

// Authorizer::Decide, waited for.
inline AccessDecision DecideNow(const Authorizer& authorizer,
                                const AccessRequest& request) {
  absl::Notification done;
  AccessDecision out;
  authorizer.Decide(request, nullptr, [&](AccessDecision d) {
    out = std::move(d);
    done.Notify();
  });
  done.WaitForNotification();
  return out;
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

#endif  // DX_POLICY_TESTING_FIXTURES_H_
