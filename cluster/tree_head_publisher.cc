#include "cluster/tree_head_publisher.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace dx::cluster {

std::unique_ptr<TreeHeadPublisher> TreeHeadPublisher::Start(
    etcd::Client* client, const audit::AuditReader* reader, Options options) {
  std::unique_ptr<TreeHeadPublisher> p(
      new TreeHeadPublisher(client, reader, std::move(options)));
  p->periodic_ = std::make_unique<Periodic>(
      p->options_.every,
      [raw = p.get()] {
        absl::Status s = raw->PublishOnce();
        // Transient (etcd away): the next round tries again; the checkpointer
        // simply sees an older head meanwhile.
        if (!s.ok()) {
          LogEvent("dxgate", "warning",
                   absl::StrCat("publishing the tree head: ", s.message()));
        }
      },
      "dx-publish");
  return p;
}

absl::Status TreeHeadPublisher::PublishOnce() {
  auto latest = reader_->TreeHead(0);
  if (absl::IsNotFound(latest.status())) return absl::OkStatus();  // none yet
  DX_RETURN_IF_ERROR(latest.status());

  etcdserverpb::RangeRequest r;
  r.set_key(keys_.Accepted() + options_.node_id);
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  uint64_t from = 0;
  if (got.kvs_size() > 0) {
    v1::AcceptedNodeHead accepted;
    if (!accepted.ParseFromString(got.kvs(0).value())) {
      return absl::DataLossError("the cluster's accepted head does not parse");
    }
    from = accepted.tree_head().tree_size();
  }
  absl::MutexLock lock(&mu_);
  if (published_ && published_size_ == latest->tree_size() &&
      published_from_ == from) {
    return absl::OkStatus();
  }
  v1::NodeTreeHead out;
  *out.mutable_tree_head() = *latest;
  out.set_proof_from_size(from);
  out.set_address(options_.address);
  if (from > 0 && from < latest->tree_size()) {
    // A log that was reset or rewritten cannot prove it extends `from`: it
    // publishes what it has, and the checkpointer raises the alarm.
    auto proof = reader_->Consistency(from, latest->tree_size());
    if (proof.ok()) *out.mutable_consistency_proof() = proof->path();
  }
  etcdserverpb::PutRequest put;
  put.set_key(keys_.Heads() + options_.node_id);
  put.set_value(out.SerializeAsString());
  DX_RETURN_IF_ERROR(client_->PutNow(put).status());
  published_ = true;
  published_size_ = latest->tree_size();
  published_from_ = from;
  return absl::OkStatus();
}

}  // namespace dx::cluster
