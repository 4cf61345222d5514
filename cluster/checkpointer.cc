#include "cluster/checkpointer.h"

#include <algorithm>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "certs/identity.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace dx::cluster {
namespace {

// The node's head as the cluster log keeps it: what the signature covers,
// without the certificate (pinned by its hash in the leaf).
v1::SignedTreeHead Stripped(v1::SignedTreeHead sth) {
  sth.clear_signer_certificate();
  sth.clear_signed_bytes();
  return sth;
}

std::string Describe(const v1::SignedTreeHead& sth) {
  return absl::StrCat(sth.tree_size(), " records (root ",
                      HexEncode(sth.root_hash()).substr(0, 16), "...)");
}

template <typename T>
absl::StatusOr<std::map<std::string, T>> ReadAll(etcd::Client* client,
                                                 const std::string& prefix) {
  etcdserverpb::RangeRequest r;
  r.set_key(prefix);
  r.set_range_end(etcd::PrefixEnd(prefix));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client->RangeNow(r));
  std::map<std::string, T> out;
  for (const auto& kv : got.kvs()) {
    T value;
    if (value.ParseFromString(kv.value())) {
      out[kv.key().substr(prefix.size())] = std::move(value);
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<Checkpointer> Checkpointer::Start(Deps deps, Options options) {
  std::unique_ptr<Checkpointer> c(
      new Checkpointer(std::move(deps), std::move(options)));
  // The lease is kept alive every second whatever the interval; the
  // checkpoints follow the interval.
  const absl::Duration tick =
      std::min(c->options_.every, c->options_.lease_ttl / 3);
  c->periodic_ = std::make_unique<Periodic>(
      tick,
      [raw = c.get()] {
        absl::Status s = raw->Tick();
        if (!s.ok()) {
          LogEvent("dxgate", "warning",
                   absl::StrCat("cluster checkpoint: ", s.message()));
        }
      },
      "dx-checkpoint");
  return c;
}

Checkpointer::~Checkpointer() {
  periodic_.reset();
  absl::MutexLock lock(&mu_);
  // Resign: the election key goes with the lease, another node takes over.
  if (lease_ != 0) (void)deps_.client->RevokeLease(lease_);
}

bool Checkpointer::elected() const {
  absl::MutexLock lock(&mu_);
  return elected_;
}

absl::Status Checkpointer::RunOnce() {
  absl::MutexLock lock(&mu_);
  DX_RETURN_IF_ERROR(Campaign());
  if (!elected_) return absl::OkStatus();
  last_checkpoint_ = deps_.clock->Now();
  return Checkpoint();
}

absl::Status Checkpointer::Tick() {
  absl::MutexLock lock(&mu_);
  DX_RETURN_IF_ERROR(Campaign());
  if (!elected_ || deps_.clock->Now() - last_checkpoint_ < options_.every) {
    return absl::OkStatus();
  }
  last_checkpoint_ = deps_.clock->Now();
  return Checkpoint();
}

absl::Status Checkpointer::Campaign() {
  if (lease_ != 0) {
    absl::Status alive = deps_.client->KeepAlive(lease_);
    if (absl::IsNotFound(alive)) {
      lease_ = 0;  // expired: whatever it held is gone
      elected_ = false;
    } else if (!alive.ok()) {
      elected_ = false;  // cannot tell; the commit's fence decides anyway
      return alive;
    }
  }
  if (lease_ == 0) {
    DX_ASSIGN_OR_RETURN(lease_, deps_.client->GrantLease(options_.lease_ttl));
  }
  if (elected_) return absl::OkStatus();
  const CheckpointKeys& keys = deps_.log->keys();
  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* free = txn.add_compare();
  free->set_key(keys.Leader());
  free->set_target(etcdserverpb::Compare::CREATE);
  free->set_result(etcdserverpb::Compare::EQUAL);
  free->set_create_revision(0);
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(keys.Leader());
  put->set_value(options_.node_id);
  put->set_lease(lease_);
  txn.add_failure()->mutable_request_range()->set_key(keys.Leader());
  DX_ASSIGN_OR_RETURN(etcdserverpb::TxnResponse got, deps_.client->TxnNow(txn));
  if (!got.succeeded()) {
    // Ours already when a previous attempt's answer was lost.
    const auto& range = got.responses(0).response_range();
    elected_ = range.kvs_size() > 0 &&
               range.kvs(0).value() == options_.node_id &&
               range.kvs(0).lease() == lease_;
    return absl::OkStatus();
  }
  elected_ = true;
  deps_.record("audit.checkpointer-elected",
               absl::StrCat(options_.node_id,
                            " now appends the nodes' tree heads to the "
                            "cluster checkpoint log"));
  return absl::OkStatus();
}

absl::Status Checkpointer::Checkpoint() {
  const CheckpointKeys& keys = deps_.log->keys();
  DX_ASSIGN_OR_RETURN(CheckpointLog::HeadState state, deps_.log->ReadHead());
  DX_ASSIGN_OR_RETURN(audit::CompactRange range,
                      deps_.log->RangeOf(state.head.tree_size()));
  DX_ASSIGN_OR_RETURN(auto published,
                      ReadAll<v1::NodeTreeHead>(deps_.client, keys.Heads()));
  DX_ASSIGN_OR_RETURN(auto accepted, ReadAll<v1::AcceptedNodeHead>(
                                         deps_.client, keys.Accepted()));
  DX_ASSIGN_OR_RETURN(
      auto alarms, ReadAll<v1::CheckpointAlarm>(deps_.client, keys.Alarms()));

  const absl::Time now = deps_.clock->Now();
  etcdserverpb::TxnRequest txn;
  std::vector<v1::CheckpointAlarm> raised;
  std::vector<std::string> cleared;
  uint64_t appended = 0;
  for (const auto& [node, offer] : published) {
    const v1::SignedTreeHead& sth = offer.tree_head();
    std::string problem;
    certs::CertVerdict cert = deps_.trust->VerifyDer(sth.signer_certificate());
    if (sth.node_id() != node) {
      problem = absl::StrCat("the head published for ", node, " names node '",
                             sth.node_id(), "'");
    } else if (!cert.ok()) {
      problem = absl::StrCat("its tree head's certificate is refused: ",
                             cert.message);
    } else if (cert.cert->principal.kind != certs::PrincipalKind::kGateway ||
               cert.cert->principal.id != node) {
      problem = absl::StrCat("its tree head is signed by ",
                             certs::ActorName(cert.cert->principal),
                             ", not by gateway:", node);
    } else if (!audit::VerifyTreeHead(sth, cert.cert->public_key.get())) {
      problem = "its tree head's signature does not verify";
    }
    auto before = accepted.find(node);
    if (problem.empty() && before != accepted.end()) {
      const v1::SignedTreeHead& was = before->second.tree_head();
      if (sth.tree_size() == was.tree_size() &&
          sth.root_hash() == was.root_hash()) {
        continue;  // nothing new
      }
      std::vector<std::string> proof(offer.consistency_proof().begin(),
                                     offer.consistency_proof().end());
      if (sth.tree_size() < was.tree_size()) {
        problem = absl::StrCat("its log shrank from ", Describe(was), " to ",
                               Describe(sth), ": reset or rewritten");
      } else if (offer.proof_from_size() != was.tree_size()) {
        continue;  // published before it saw the last checkpoint: next round
      } else if (!audit::VerifyConsistency(was.tree_size(), sth.tree_size(),
                                           was.root_hash(), sth.root_hash(),
                                           proof)) {
        problem = absl::StrCat("its tree of ", Describe(sth),
                               " does not extend the tree of ", Describe(was),
                               " the cluster accepted: rewritten, reset or "
                               "forked");
      }
    }
    auto alarm = alarms.find(node);
    if (!problem.empty()) {
      // Raised once: it stands until a head extends the accepted tree.
      if (alarm != alarms.end()) continue;
      v1::CheckpointAlarm a;
      a.set_node_id(node);
      a.set_reason(problem);
      if (before != accepted.end()) {
        *a.mutable_accepted() = before->second.tree_head();
      }
      *a.mutable_offered() = Stripped(sth);
      a.set_raised_unix_micros(absl::ToUnixMicros(now));
      a.set_raised_by(options_.node_id);
      etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
      put->set_key(keys.Alarms() + node);
      put->set_value(a.SerializeAsString());
      raised.push_back(std::move(a));
      continue;
    }
    v1::CheckpointLeaf leaf;
    leaf.set_node_id(node);
    *leaf.mutable_node_tree_head() = Stripped(sth);
    leaf.set_checkpointed_unix_micros(absl::ToUnixMicros(now));
    leaf.set_node_signer_cert_sha256(cert.cert->fingerprint);
    const std::string bytes = leaf.SerializeAsString();
    const uint64_t index = range.size();
    range.Append(audit::HashLeaf(bytes));
    ++appended;
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(keys.Leaf(index));
    put->set_value(bytes);
    v1::AcceptedNodeHead now_accepted;
    *now_accepted.mutable_tree_head() = Stripped(sth);
    now_accepted.set_leaf_index(index);
    put = txn.add_success()->mutable_request_put();
    put->set_key(keys.Accepted() + node);
    put->set_value(now_accepted.SerializeAsString());
    if (alarm != alarms.end()) {
      txn.add_success()->mutable_request_delete_range()->set_key(keys.Alarms() +
                                                                 node);
      cleared.push_back(node);
    }
  }
  if (txn.success_size() == 0) return absl::OkStatus();
  if (appended > 0) {
    DX_ASSIGN_OR_RETURN(v1::SignedTreeHead head,
                        audit::SignClusterTreeHead(
                            *deps_.signer, options_.node_id, range.size(),
                            absl::ToUnixMillis(now), range.Root()));
    const std::string bytes = head.SerializeAsString();
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(keys.Head());
    put->set_value(bytes);
    put = txn.add_success()->mutable_request_put();
    put->set_key(keys.HeadOfSize(range.size()));
    put->set_value(bytes);
  }
  // The fence: still the elected one, and nobody moved the head since it
  // was read (a missing key's mod revision is 0).
  etcdserverpb::Compare* leader = txn.add_compare();
  leader->set_key(keys.Leader());
  leader->set_target(etcdserverpb::Compare::VALUE);
  leader->set_result(etcdserverpb::Compare::EQUAL);
  leader->set_value(options_.node_id);
  etcdserverpb::Compare* head = txn.add_compare();
  head->set_key(keys.Head());
  head->set_target(etcdserverpb::Compare::MOD);
  head->set_result(etcdserverpb::Compare::EQUAL);
  head->set_mod_revision(state.mod_revision);
  DX_ASSIGN_OR_RETURN(etcdserverpb::TxnResponse got, deps_.client->TxnNow(txn));
  if (!got.succeeded()) {
    elected_ = false;  // another node leads, or wrote first: campaign again
    return absl::OkStatus();
  }
  for (const v1::CheckpointAlarm& a : raised) {
    LogEvent("dxgate", "error",
             absl::StrCat("ALARM: node ", a.node_id(),
                          "'s audit log was not accepted into the cluster "
                          "log: ",
                          a.reason()));
    deps_.record("audit.node-log-inconsistent",
                 absl::StrCat("node ", a.node_id(), ": ", a.reason(),
                              "; its new tree heads are not checkpointed "
                              "until one extends the accepted tree"));
  }
  for (const std::string& node : cleared) {
    deps_.record("audit.node-log-alarm-cleared",
                 absl::StrCat("node ", node,
                              " published a tree head that extends the "
                              "accepted tree; it is checkpointed again"));
  }
  return absl::OkStatus();
}

}  // namespace dx::cluster
