// What PolicyAdmin's changes (policy_admin.cc) and queries
// (policy_admin_queries.cc) share: a prepared change (validate is a dry
// run of it) and the name of the directory among the datasets. Private to
// policy/.
#ifndef DX_POLICY_INTERNAL_ADMIN_PREPARED_H_
#define DX_POLICY_INTERNAL_ADMIN_PREPARED_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dx/v1/policy.pb.h"
#include "policy/policy_admin.h"
#include "policy/snapshot.h"

namespace dx::policy {

// Where a change names the policy directory rather than a dataset.
inline constexpr char kDirectoryName[] = "directory";

// The policy of `dataset` in `doc`, or null.
inline const v1::DatasetPolicy* FindPolicy(const v1::PolicyDocument& doc,
                                           const std::string& dataset) {
  for (const auto& p : doc.datasets())
    if (p.dataset() == dataset) return &p;
  return nullptr;
}

struct PolicyAdmin::Prepared {
  std::shared_ptr<const PolicySnapshot> snapshot;  // revision base + 1
  v1::PolicyDocument changes;  // changed datasets, and the directory if so
  bool directory_changed = false;
  std::vector<std::string> changed;
  std::vector<std::string> protected_datasets;
  uint64_t base = 0;
};

}  // namespace dx::policy

#endif  // DX_POLICY_INTERNAL_ADMIN_PREPARED_H_
