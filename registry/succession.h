// Successions of agencies (registry `successions`): an old code, the codes
// that took over, from when, on which legal basis, and an optional grace
// period. Validated with the rest of the registry (registry.cc) and read by
// the policy snapshot (who may still call) and by lineage look-ups (audit
// queries that find both codes). Immutable once built; thread-safe.
#ifndef DX_REGISTRY_SUCCESSION_H_
#define DX_REGISTRY_SUCCESSION_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dx/v1/registry.pb.h"

namespace dx::registry {

// One succession with its times parsed.
struct SuccessionEntry {
  const v1::Succession* proto = nullptr;
  absl::Time effective;
  // InfinitePast when there is no grace period.
  absl::Time grace_until = absl::InfinitePast();
};

// Where an agency stands at a moment.
enum class SuccessionState {
  kActive,     // not succeeded, or before the effective date
  kInGrace,    // succeeded, still served (marked) until grace_until
  kSucceeded,  // succeeded: refused naming the successors
};

class Successions {
 public:
  // Validates `proto`'s successions against its agencies: codes known,
  // never onto itself, listed once, dates in RFC 3339 with grace after
  // the effective date, a legal basis, and no cycle. `bad(where, what)`
  // builds the error (so that it names the file, line and field).
  // Keeps pointers into `proto`, which must outlive this.
  absl::Status Build(
      const v1::Registry& proto,
      const std::function<absl::Status(const std::string&, const std::string&)>&
          bad);

  // The succession of `code`, or null.
  const SuccessionEntry* Find(const std::string& code) const;
  SuccessionState StateAt(const std::string& code, absl::Time now) const;
  // Every code linked to `code` through successions, both ways and
  // transitively, `code` first, then the others sorted (an auditor's
  // "either code finds both").
  std::vector<std::string> Lineage(const std::string& code) const;
  // The codes `code` succeeded directly, sorted.
  std::vector<std::string> Predecessors(const std::string& code) const;

 private:
  absl::flat_hash_map<std::string, SuccessionEntry> by_old_;
  absl::flat_hash_map<std::string, std::vector<std::string>> by_successor_;
};

// "000.00.00.H30 was succeeded by 000.00.00.H31 on 2025-07-01T00:00:00Z
// (Resolution 202/2025/QH15)": the clause refusals and dxctl print.
std::string SuccessionText(const SuccessionEntry& s);

}  // namespace dx::registry

#endif  // DX_REGISTRY_SUCCESSION_H_
