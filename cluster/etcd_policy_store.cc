#include "cluster/etcd_policy_store.h"

#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "certs/crypto.h"
#include "common/status_macros.h"
#include "etcd/watcher.h"

namespace dx::cluster {
namespace {

// etcd's default limit of operations per transaction is 128.
constexpr int kMaxOps = 128;

bool IsEmptyPolicy(const v1::DatasetPolicy& p) {
  return p.grants_size() + p.forbids_size() == 0 && !p.has_two_person_rule();
}

}  // namespace

EtcdPolicyStore::EtcdPolicyStore(etcd::Client* client, const Clock* clock,
                                 Options options)
    : client_(client), clock_(clock), options_(std::move(options)) {}
EtcdPolicyStore::~EtcdPolicyStore() = default;

std::string EtcdPolicyStore::Key(const std::string& suffix) const {
  return absl::StrCat(options_.prefix, "policy/", suffix);
}

std::string EtcdPolicyStore::Rev(uint64_t revision) {
  return absl::StrFormat("%020u", revision);
}

absl::StatusOr<uint64_t> EtcdPolicyStore::Head() const {
  etcdserverpb::RangeRequest r;
  r.set_key(Key("head"));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  uint64_t head = 0;
  if (got.kvs_size() > 0 && !absl::SimpleAtoi(got.kvs(0).value(), &head)) {
    return absl::DataLossError("policy store: the head does not parse");
  }
  return head;
}

absl::StatusOr<v1::PolicyDocument> EtcdPolicyStore::StateAt(
    uint64_t revision, const std::string& only) const {
  DX_ASSIGN_OR_RETURN(uint64_t head, Head());
  if (revision == 0) revision = head;
  if (revision > head) {
    return absl::NotFoundError(absl::StrCat(
        "revision ", revision, " does not exist (latest: ", head, ")"));
  }
  v1::PolicyDocument doc;
  if (only.empty() || only == "directory") {
    etcdserverpb::RangeRequest r;
    r.set_key(Key("dir/"));
    r.set_range_end(Key("dir/" + Rev(revision + 1)));
    r.set_sort_order(etcdserverpb::RangeRequest::DESCEND);
    r.set_sort_target(etcdserverpb::RangeRequest::KEY);
    r.set_limit(1);
    DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
    if (got.kvs_size() > 0 &&
        !doc.mutable_directory()->ParseFromString(got.kvs(0).value())) {
      return absl::DataLossError("policy store: a directory does not parse");
    }
    if (only == "directory") return doc;
  }
  // Every dataset's versions; the newest at or before `revision` wins.
  const std::string prefix = Key(only.empty() ? "obj/" : "obj/" + only + "/");
  etcdserverpb::RangeRequest r;
  r.set_key(prefix);
  r.set_range_end(etcd::PrefixEnd(prefix));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  std::map<std::string, const mvccpb::KeyValue*> newest;
  const std::string obj = Key("obj/");
  for (const mvccpb::KeyValue& kv : got.kvs()) {
    const std::string rest = kv.key().substr(obj.size());
    const size_t slash = rest.rfind('/');
    uint64_t rev = 0;
    if (slash == std::string::npos ||
        !absl::SimpleAtoi(rest.substr(slash + 1), &rev)) {
      return absl::DataLossError("policy store: a malformed object key");
    }
    if (rev > revision) continue;
    newest[rest.substr(0, slash)] = &kv;  // keys come sorted: the last wins
  }
  for (const auto& [dataset, kv] : newest) {
    v1::DatasetPolicy p;
    if (!p.ParseFromString(kv->value())) {
      return absl::DataLossError(absl::StrCat("policy store: the policy of ",
                                              dataset, " does not parse"));
    }
    if (!IsEmptyPolicy(p)) *doc.add_datasets() = std::move(p);
  }
  return doc;
}

absl::StatusOr<uint64_t> EtcdPolicyStore::Commit(
    v1::PolicyRevision meta, const v1::PolicyDocument& changes,
    bool directory_changed, uint64_t expected_head,
    const std::string& resolves_pending) {
  const int ops = 2 + changes.datasets_size() + (directory_changed ? 1 : 0) +
                  (resolves_pending.empty() ? 0 : 1);
  if (ops > kMaxOps) {
    return absl::InvalidArgumentError(absl::StrCat(
        "this change touches ", changes.datasets_size(),
        " datasets; the cluster's store takes at most ", kMaxOps - 4,
        " in one change: apply the document in parts"));
  }
  const uint64_t rev = expected_head + 1;
  meta.set_revision(rev);
  v1::PolicyCommit commit;
  *commit.mutable_meta() = meta;
  *commit.mutable_changes() = changes;
  commit.set_directory_changed(directory_changed);
  commit.set_attempt(certs::RandomBytes(16));

  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* head = txn.add_compare();
  head->set_key(Key("head"));
  if (expected_head == 0) {
    head->set_target(etcdserverpb::Compare::VERSION);
    head->set_version(0);
  } else {
    head->set_target(etcdserverpb::Compare::VALUE);
    head->set_value(absl::StrCat(expected_head));
  }
  head->set_result(etcdserverpb::Compare::EQUAL);
  if (!resolves_pending.empty()) {
    etcdserverpb::Compare* pending = txn.add_compare();
    pending->set_key(Key("pending/" + resolves_pending));
    pending->set_target(etcdserverpb::Compare::VERSION);
    pending->set_result(etcdserverpb::Compare::GREATER);
    pending->set_version(0);
    txn.add_success()->mutable_request_delete_range()->set_key(
        Key("pending/" + resolves_pending));
  }
  auto put = [&](const std::string& key, const std::string& value) {
    etcdserverpb::PutRequest* p = txn.add_success()->mutable_request_put();
    p->set_key(key);
    p->set_value(value);
  };
  put(Key("head"), absl::StrCat(rev));
  put(Key("rev/" + Rev(rev)), commit.SerializeAsString());
  for (const v1::DatasetPolicy& p : changes.datasets()) {
    put(Key("obj/" + p.dataset() + "/" + Rev(rev)), p.SerializeAsString());
  }
  if (directory_changed) {
    put(Key("dir/" + Rev(rev)), changes.directory().SerializeAsString());
  }
  DX_ASSIGN_OR_RETURN(etcdserverpb::TxnResponse done, client_->TxnNow(txn));
  if (done.succeeded()) return rev;
  // Lost, or our own attempt whose answer was lost and was retried.
  etcdserverpb::RangeRequest r;
  r.set_key(Key("rev/" + Rev(rev)));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  v1::PolicyCommit theirs;
  if (got.kvs_size() > 0 && theirs.ParseFromString(got.kvs(0).value()) &&
      theirs.attempt() == commit.attempt()) {
    return rev;
  }
  if (!resolves_pending.empty() && !GetPending(resolves_pending).ok()) {
    return absl::AbortedError(
        absl::StrCat("pending change ", resolves_pending,
                     " is no longer pending (approved or rejected meanwhile)"));
  }
  DX_ASSIGN_OR_RETURN(uint64_t now, Head());
  return absl::AbortedError(
      absl::StrCat("the policy changed meanwhile (now revision ", now,
                   "); review the change again and retry"));
}

absl::StatusOr<std::vector<v1::PolicyRevision>> EtcdPolicyStore::History(
    const std::string& dataset, size_t limit) const {
  etcdserverpb::RangeRequest r;
  r.set_key(Key("rev/"));
  r.set_range_end(etcd::PrefixEnd(Key("rev/")));
  r.set_sort_order(etcdserverpb::RangeRequest::DESCEND);
  r.set_sort_target(etcdserverpb::RangeRequest::KEY);
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  std::vector<v1::PolicyRevision> out;
  for (const mvccpb::KeyValue& kv : got.kvs()) {
    v1::PolicyCommit c;
    if (!c.ParseFromString(kv.value())) {
      return absl::DataLossError("policy store: a revision does not parse");
    }
    if (!dataset.empty() &&
        std::find(c.meta().changed().begin(), c.meta().changed().end(),
                  dataset) == c.meta().changed().end()) {
      continue;
    }
    out.push_back(c.meta());
    if (limit != 0 && out.size() >= limit) break;
  }
  return out;
}

absl::Status EtcdPolicyStore::PutPending(const v1::PendingChange& change) {
  etcdserverpb::PutRequest p;
  p.set_key(Key("pending/" + change.id()));
  p.set_value(change.SerializeAsString());
  return client_->PutNow(p).status();
}

absl::StatusOr<v1::PendingChange> EtcdPolicyStore::GetPending(
    const std::string& id) const {
  etcdserverpb::RangeRequest r;
  r.set_key(Key("pending/" + id));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  if (got.kvs_size() == 0) {
    return absl::NotFoundError(absl::StrCat(
        "no pending change '", id, "'; `dxctl policy pending` lists them"));
  }
  v1::PendingChange c;
  if (!c.ParseFromString(got.kvs(0).value())) {
    return absl::DataLossError("policy store: a pending change does not parse");
  }
  return c;
}

absl::Status EtcdPolicyStore::DeletePending(const std::string& id) {
  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* c = txn.add_compare();
  c->set_key(Key("pending/" + id));
  c->set_target(etcdserverpb::Compare::VERSION);
  c->set_result(etcdserverpb::Compare::GREATER);
  c->set_version(0);
  txn.add_success()->mutable_request_delete_range()->set_key(
      Key("pending/" + id));
  DX_ASSIGN_OR_RETURN(etcdserverpb::TxnResponse done, client_->TxnNow(txn));
  if (!done.succeeded()) {
    return absl::NotFoundError(
        absl::StrCat("pending change ", id, " is no longer pending"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::PendingChange>> EtcdPolicyStore::ListPending()
    const {
  etcdserverpb::RangeRequest r;
  r.set_key(Key("pending/"));
  r.set_range_end(etcd::PrefixEnd(Key("pending/")));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  std::vector<v1::PendingChange> out;
  for (const mvccpb::KeyValue& kv : got.kvs()) {
    v1::PendingChange c;
    if (!c.ParseFromString(kv.value())) {
      return absl::DataLossError(
          "policy store: a pending change does not parse");
    }
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<v1::PolicyCommit>> EtcdPolicyStore::CommitsAfter(
    uint64_t after, int64_t* etcd_revision) const {
  etcdserverpb::RangeRequest r;
  r.set_key(Key("rev/" + Rev(after + 1)));
  r.set_range_end(etcd::PrefixEnd(Key("rev/")));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  *etcd_revision = got.header().revision();
  std::vector<v1::PolicyCommit> out;
  for (const mvccpb::KeyValue& kv : got.kvs()) {
    v1::PolicyCommit c;
    if (!c.ParseFromString(kv.value())) {
      return absl::DataLossError("policy store: a revision does not parse");
    }
    out.push_back(std::move(c));
  }
  return out;
}

// Follows the store for one watcher: the etcd watch, its re-creation after
// a compaction, and the periodic confirmation that it is current.
class EtcdPolicyStore::Follower final : public PolicyStore::WatchHandle {
 public:
  Follower(EtcdPolicyStore* store, policy::PolicyWatcher* watcher,
           uint64_t delivered, int64_t etcd_revision)
      : store_(store), watcher_(watcher), delivered_(delivered) {
    StartWatch(etcd_revision + 1);
    confirmer_ = std::thread([this] { ConfirmLoop(); });
  }
  ~Follower() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    confirmer_.join();
    absl::MutexLock lock(&watch_mu_);
    watch_.reset();
  }

 private:
  void StartWatch(int64_t from) {
    etcd::Watcher::Callbacks cb;
    cb.on_events = [this](const etcdserverpb::WatchResponse& r) {
      for (const mvccpb::Event& e : r.events()) {
        if (e.type() != mvccpb::Event::PUT) continue;
        v1::PolicyCommit c;
        if (!c.ParseFromString(e.kv().value())) continue;
        Deliver(c);
      }
    };
    cb.on_compacted = [this](int64_t) {
      absl::MutexLock lock(&mu_);
      compacted_ = true;  // the confirmer re-lists and watches again
    };
    absl::MutexLock lock(&watch_mu_);
    watch_ = std::make_unique<etcd::Watcher>(
        store_->client_, store_->Key("rev/"),
        etcd::PrefixEnd(store_->Key("rev/")), from, cb);
  }

  void Deliver(const v1::PolicyCommit& c) {
    absl::MutexLock lock(&callback_mu_);
    if (c.meta().revision() <= delivered_) return;
    delivered_ = c.meta().revision();
    watcher_->OnCommit(c);
  }

  void ConfirmLoop() {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_;
        };
        if (mu_.AwaitWithTimeout(absl::Condition(&stop),
                                 store_->options_.confirm_interval)) {
          return;
        }
      }
      bool compacted;
      {
        absl::MutexLock lock(&mu_);
        compacted = compacted_;
        compacted_ = false;
      }
      if (compacted) Resync();
      // A linearizable read: a quorum says what the head is now.
      absl::StatusOr<uint64_t> head = store_->Head();
      if (!head.ok()) continue;  // silence: the sync's staleness bound acts
      absl::MutexLock lock(&callback_mu_);
      if (*head == delivered_) {
        watcher_->OnCurrent(*head, store_->clock_->Now());
      }
    }
  }

  void Resync() {
    int64_t etcd_revision = 0;
    absl::StatusOr<uint64_t> head = store_->Head();
    if (!head.ok()) {
      absl::MutexLock lock(&mu_);
      compacted_ = true;  // try again next time
      return;
    }
    {
      absl::MutexLock lock(&watch_mu_);
      watch_.reset();
    }
    auto commits = store_->CommitsAfter(*head, &etcd_revision);
    {
      absl::MutexLock lock(&callback_mu_);
      delivered_ = *head;
      watcher_->OnReset(*head);
    }
    if (commits.ok()) {
      for (const auto& c : *commits) Deliver(c);
    }
    StartWatch(etcd_revision + 1);
  }

  EtcdPolicyStore* const store_;
  policy::PolicyWatcher* const watcher_;
  absl::Mutex callback_mu_;  // one callback at a time, in order
  uint64_t delivered_ ABSL_GUARDED_BY(callback_mu_);
  absl::Mutex watch_mu_;
  std::unique_ptr<etcd::Watcher> watch_ ABSL_GUARDED_BY(watch_mu_);
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool compacted_ ABSL_GUARDED_BY(mu_) = false;
  std::thread confirmer_;
};

absl::StatusOr<std::unique_ptr<policy::PolicyStore::WatchHandle>>
EtcdPolicyStore::Watch(uint64_t after, policy::PolicyWatcher* watcher) {
  int64_t etcd_revision = 0;
  DX_ASSIGN_OR_RETURN(std::vector<v1::PolicyCommit> commits,
                      CommitsAfter(after, &etcd_revision));
  uint64_t delivered = after;
  for (const v1::PolicyCommit& c : commits) {
    watcher->OnCommit(c);
    delivered = c.meta().revision();
  }
  return std::unique_ptr<WatchHandle>(
      new Follower(this, watcher, delivered, etcd_revision));
}

}  // namespace dx::cluster
