// Fuzzes what a policy administrator sends: a YAML policy document read,
// compiled against a fixed registry (every check, row filter parsing, the
// lint), applied incrementally on top of a base, and decisions made with
// it. Any input must give a snapshot or an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/yaml_proto.h"
#include "dx/v1/policy.pb.h"
#include "dx/v1/registry.pb.h"
#include "policy/snapshot.h"
#include "registry/registry.h"

namespace {

constexpr char kRegistry[] = R"(
agencies: [{code: 000.00.00.G01}, {code: 000.00.00.H30}]
datasets:
  - id: pop
    provider_agency: 000.00.00.G01
    category: shared
    adapter: {address: "127.0.0.1:1"}
    fields: [{name: citizen_id, tags: [personal]}, {name: province_code},
             {name: status}]
  - id: secret
    provider_agency: 000.00.00.G01
    category: private
    adapter: {address: "127.0.0.1:1"}
    fields: [{name: a, tags: [important]}]
)";

std::shared_ptr<const dx::registry::Registry> Registry() {
  static const auto* r = new std::shared_ptr<const dx::registry::Registry>(
      *dx::registry::Registry::FromYaml(kRegistry, "registry.yaml"));
  return *r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  dx::v1::PolicyDocument doc;
  dx::YamlLines lines;
  if (!dx::YamlToProto(text, "fuzz.yaml", &doc, &lines).ok()) return 0;
  const absl::Time now = absl::FromUnixSeconds(1764000000);
  std::vector<dx::policy::PolicyProblem> problems;
  auto base = dx::policy::PolicySnapshot::Compile(Registry(), doc, nullptr, 1,
                                                  now, &problems);
  for (const auto& p : problems) (void)dx::LineOf(lines, p.path);
  if (!base.ok()) return 0;
  auto next = dx::policy::PolicySnapshot::Compile(Registry(), doc, base->get(),
                                                  2, now, nullptr);
  if (!next.ok()) __builtin_trap();  // what compiled once compiles again
  for (const char* agency : {"000.00.00.H30", "000.00.00.G01", "X"}) {
    for (const char* dataset : {"pop", "secret"}) {
      dx::policy::AccessRequest r;
      r.consumer_agency = agency;
      r.dataset_id = dataset;
      r.purpose_code = "p";
      std::vector<std::string> trace;
      (void)(*next)->Decide(r, now, &trace);
      r.fields = {"citizen_id", "status"};
      (void)(*next)->Decide(r, now, &trace);
    }
  }
  return 0;
}
