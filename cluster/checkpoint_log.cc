#include "cluster/checkpoint_log.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace dx::cluster {
namespace {

// Leaves read from etcd in one range at most (about 200 bytes each).
constexpr int64_t kLeavesPerRead = 2000;

}  // namespace

absl::StatusOr<CheckpointLog::HeadState> CheckpointLog::ReadHead() const {
  etcdserverpb::RangeRequest r;
  r.set_key(keys_.Head());
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  HeadState out;
  if (got.kvs_size() == 0) return out;
  if (!out.head.ParseFromString(got.kvs(0).value())) {
    return absl::DataLossError(
        "cluster checkpoint log: its signed tree head does not parse");
  }
  out.mod_revision = got.kvs(0).mod_revision();
  return out;
}

absl::Status CheckpointLog::LoadUpTo(uint64_t size) {
  while (leaves_.size() < size) {
    etcdserverpb::RangeRequest r;
    r.set_key(keys_.Leaf(leaves_.size()));
    r.set_range_end(keys_.Leaf(size));
    r.set_limit(kLeavesPerRead);
    DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
    if (got.kvs_size() == 0) break;
    for (const auto& kv : got.kvs()) {
      if (kv.key() != keys_.Leaf(leaves_.size())) {
        return absl::DataLossError(absl::StrCat("cluster checkpoint log: leaf ",
                                                leaves_.size(), " is missing"));
      }
      v1::CheckpointLeaf leaf;
      if (!leaf.ParseFromString(kv.value())) {
        return absl::DataLossError(absl::StrCat("cluster checkpoint log: leaf ",
                                                leaves_.size(),
                                                " does not parse"));
      }
      leaves_.push_back({leaf.node_id(), leaf.node_tree_head().tree_size()});
      // Each new leaf completes the perfect subtrees on its left edge.
      std::string hash = audit::HashLeaf(kv.value());
      for (size_t level = 0;; ++level) {
        if (levels_.size() <= level) levels_.emplace_back();
        levels_[level].push_back(hash);
        const size_t n = levels_[level].size();
        if (n % 2 != 0) break;
        hash =
            audit::HashChildren(levels_[level][n - 2], levels_[level][n - 1]);
      }
    }
  }
  if (leaves_.size() < size) {
    return absl::DataLossError(
        absl::StrCat("cluster checkpoint log: its head says ", size,
                     " leaves, etcd holds ", leaves_.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<audit::CompactRange> CheckpointLog::RangeOf(uint64_t size) {
  absl::MutexLock lock(&mu_);
  DX_RETURN_IF_ERROR(LoadUpTo(size));
  auto source = [this](int level,
                       uint64_t index) -> absl::StatusOr<std::string> {
    mu_.AssertHeld();
    return levels_[level][index];
  };
  return audit::CompactRange::FromSource(source, size);
}

absl::StatusOr<v1::CheckpointProof> CheckpointLog::ProofFor(
    const std::string& node_id, uint64_t min_tree_size) {
  DX_ASSIGN_OR_RETURN(HeadState state, ReadHead());
  const uint64_t size = state.head.tree_size();
  v1::CheckpointProof out;
  DX_ASSIGN_OR_RETURN(auto alarms, Alarms());
  *out.mutable_alarms() = {alarms.begin(), alarms.end()};
  uint64_t index = size;
  std::vector<std::string> path;
  {
    absl::MutexLock lock(&mu_);
    DX_RETURN_IF_ERROR(LoadUpTo(size));
    for (uint64_t i = 0; i < size; ++i) {
      const Leaf& l = leaves_[i];
      if (l.node_id != node_id) continue;
      if (min_tree_size == 0) {
        index = i;  // the newest: keep looking
      } else if (l.tree_size >= min_tree_size) {
        index = i;
        break;
      }
    }
    if (index == size) {
      return absl::NotFoundError(absl::StrCat(
          "no checkpoint of node ", node_id,
          min_tree_size == 0
              ? ""
              : absl::StrCat(" with at least ", min_tree_size, " records"),
          " in the cluster log of ", size,
          " leaves yet; the checkpointer appends one within its interval"));
    }
    auto source = [this](int level, uint64_t i) -> absl::StatusOr<std::string> {
      mu_.AssertHeld();
      return levels_[level][i];
    };
    DX_ASSIGN_OR_RETURN(path, audit::InclusionProof(source, index, size));
  }
  etcdserverpb::RangeRequest r;
  r.set_key(keys_.Leaf(index));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  if (got.kvs_size() == 0 ||
      !out.mutable_leaf()->ParseFromString(got.kvs(0).value())) {
    return absl::DataLossError(
        absl::StrCat("cluster checkpoint log: leaf ", index, " is missing"));
  }
  out.set_leaf_index(index);
  out.set_leaf_bytes(got.kvs(0).value());
  for (auto& p : path) out.add_path(std::move(p));
  *out.mutable_cluster_tree_head() = std::move(state.head);
  return out;
}

absl::StatusOr<std::vector<v1::CheckpointAlarm>> CheckpointLog::Alarms() const {
  etcdserverpb::RangeRequest r;
  r.set_key(keys_.Alarms());
  r.set_range_end(etcd::PrefixEnd(keys_.Alarms()));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  std::vector<v1::CheckpointAlarm> out;
  for (const auto& kv : got.kvs()) {
    v1::CheckpointAlarm a;
    if (a.ParseFromString(kv.value())) out.push_back(std::move(a));
  }
  return out;
}

absl::StatusOr<std::vector<v1::ClusterNode>> CheckpointLog::KnownNodes() const {
  etcdserverpb::RangeRequest r;
  r.set_key(keys_.Heads());
  r.set_range_end(etcd::PrefixEnd(keys_.Heads()));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  std::vector<v1::ClusterNode> out;
  for (const auto& kv : got.kvs()) {
    v1::NodeTreeHead head;
    if (!head.ParseFromString(kv.value())) continue;
    v1::ClusterNode n;
    n.set_node_id(kv.key().substr(keys_.Heads().size()));
    n.set_address(head.address());
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace dx::cluster
