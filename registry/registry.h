// Registry: agencies, their systems and datasets (with field schema and
// adapter endpoint), validated as a whole. One immutable snapshot per
// version: a RegistrySource swaps whole snapshots, the sharing policy is
// compiled against one (policy/snapshot.h), and the gateway reads the
// registry only through the policy snapshot that decides a call, so that
// its checks and the decision always see the same registry. Thread-safe
// (immutable).
#ifndef DX_REGISTRY_REGISTRY_H_
#define DX_REGISTRY_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "common/yaml_proto.h"
#include "dx/v1/registry.pb.h"
#include "registry/succession.h"

namespace dx::registry {

class Registry {
 public:
  static absl::StatusOr<std::shared_ptr<const Registry>> LoadFile(
      const std::string& path);
  // Parses and validates a YAML text; errors name `source`, the line and
  // the field.
  static absl::StatusOr<std::shared_ptr<const Registry>> FromYaml(
      const std::string& yaml, const std::string& source,
      uint64_t revision = 0);
  // Validates `proto`; `source` names it in error messages, as
  // "source: datasets[2].fields: ..." (file:line where the caller has it).
  // `revision` numbers the snapshot (a file's: 0; the cluster store's:
  // its revision).
  static absl::StatusOr<std::shared_ptr<const Registry>> FromProto(
      v1::Registry proto, const std::string& source, uint64_t revision = 0,
      const YamlLines* lines = nullptr);

  const v1::Dataset* FindDataset(const std::string& id) const;
  const v1::Agency* FindAgency(const std::string& code) const;
  bool HasSystem(const std::string& agency, const std::string& system) const;
  bool HasField(const v1::Dataset& dataset, const std::string& field) const;
  // Successions of agencies (merged provinces): who succeeded whom, when.
  const Successions& successions() const { return successions_; }
  const v1::Registry& proto() const { return proto_; }
  uint64_t revision() const { return revision_; }
  // SHA-256 of the serialized proto (hex): names this content in logs and
  // audit records.
  const std::string& digest() const { return digest_; }

 private:
  Registry() = default;
  v1::Registry proto_;
  uint64_t revision_ = 0;
  std::string digest_;
  absl::flat_hash_map<std::string, const v1::Dataset*> datasets_;
  absl::flat_hash_map<std::string, const v1::Agency*> agencies_;
  absl::flat_hash_set<std::string> systems_;  // "agency/system"
  absl::flat_hash_set<std::string> fields_;   // "dataset/field"
  Successions successions_;
};

// The state_secret marks `before` has and `after` lacks: "dataset D" or
// "field D.F", in `before`'s order. A dataset or field that goes, or is
// renamed, takes its mark with it, so that counts as a removal too. Removing
// a mark needs a second registry operator (gateway/registry_admin.h).
std::vector<std::string> RemovedStateSecretMarks(const v1::Registry& before,
                                                 const v1::Registry& after);

}  // namespace dx::registry

#endif  // DX_REGISTRY_REGISTRY_H_
