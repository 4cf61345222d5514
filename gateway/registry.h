// Registry: agencies, their systems and datasets (with field schema and
// adapter endpoint), loaded from YAML and validated as a whole. Immutable
// after Load; thread-safe to read.
#ifndef DX_GATEWAY_REGISTRY_H_
#define DX_GATEWAY_REGISTRY_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "dx/v1/registry.pb.h"

namespace dx::gateway {

class Registry {
 public:
  static absl::StatusOr<std::unique_ptr<Registry>> LoadFile(
      const std::string& path);
  // Validates `proto`; `source` names it in error messages.
  static absl::StatusOr<std::unique_ptr<Registry>> FromProto(
      v1::Registry proto, const std::string& source);

  const v1::Dataset* FindDataset(const std::string& id) const;
  const v1::Agency* FindAgency(const std::string& code) const;
  bool HasSystem(const std::string& agency, const std::string& system) const;
  bool HasField(const v1::Dataset& dataset, const std::string& field) const;
  const v1::Registry& proto() const { return proto_; }

 private:
  Registry() = default;
  v1::Registry proto_;
  absl::flat_hash_map<std::string, const v1::Dataset*> datasets_;
  absl::flat_hash_map<std::string, const v1::Agency*> agencies_;
  absl::flat_hash_set<std::string> systems_;  // "agency/system"
  absl::flat_hash_set<std::string> fields_;   // "dataset/field"
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_REGISTRY_H_
