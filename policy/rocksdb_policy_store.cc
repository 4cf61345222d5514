#include "policy/rocksdb_policy_store.h"

#include <rocksdb/db.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/bytes.h"
#include "common/rocksdb_under_tsan.h"

namespace dx::policy {
namespace {

constexpr char kHead[] = "h";

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("policy store: ", what, ": ", s.ToString()));
}

std::string RevisionKey(uint64_t rev) {
  return absl::StrCat("r/", EncodeBigEndian64(rev));
}
std::string ObjectPrefix(const std::string& dataset) {
  return absl::StrCat("o/", dataset, std::string(1, '\0'));
}
std::string DirectoryKey(uint64_t rev) {
  return absl::StrCat("d/", EncodeBigEndian64(rev));
}

// The last value under `prefix` whose 8-byte revision suffix is <= `rev`.
bool LatestAtOrBefore(rocksdb::DB* db, const std::string& prefix, uint64_t rev,
                      std::string* value) {
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev(prefix + EncodeBigEndian64(rev));
  if (!it->Valid() || !it->key().starts_with(prefix)) return false;
  *value = it->value().ToString();
  return true;
}

}  // namespace

// Stops a watch: no callback runs after the destructor returns.
class RocksDbPolicyStore::Handle final : public PolicyStore::WatchHandle {
 public:
  Handle(RocksDbPolicyStore* store, PolicyWatcher* watcher)
      : store_(store), watcher_(watcher) {}
  ~Handle() override { store_->Unwatch(watcher_); }

 private:
  RocksDbPolicyStore* const store_;
  PolicyWatcher* const watcher_;
};

RocksDbPolicyStore::RocksDbPolicyStore(std::unique_ptr<rocksdb::DB> db)
    : db_(std::move(db)) {}
RocksDbPolicyStore::~RocksDbPolicyStore() = default;

absl::StatusOr<std::unique_ptr<RocksDbPolicyStore>> RocksDbPolicyStore::Open(
    const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 64;
  SerializeRocksDbWritesUnderTsan(&options);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot open the policy store at ", path, ": ", s.ToString()));
  }
  std::unique_ptr<RocksDbPolicyStore> store(
      new RocksDbPolicyStore(std::unique_ptr<rocksdb::DB>(raw)));
  std::string head;
  s = raw->Get(rocksdb::ReadOptions(), kHead, &head);
  if (s.ok()) {
    absl::MutexLock lock(&store->mu_);
    store->head_ = DecodeBigEndian64(head);
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "reading the head");
  }
  return store;
}

absl::StatusOr<uint64_t> RocksDbPolicyStore::Head() const {
  absl::MutexLock lock(&mu_);
  return head_;
}

absl::StatusOr<v1::PolicyDocument> RocksDbPolicyStore::StateAt(
    uint64_t revision, const std::string& only) const {
  uint64_t head_now;
  {
    absl::MutexLock lock(&mu_);
    head_now = head_;
  }
  if (revision == 0) revision = head_now;
  if (revision > head_now) {
    return absl::NotFoundError(absl::StrCat(
        "revision ", revision, " does not exist (latest: ", head_now, ")"));
  }
  v1::PolicyDocument doc;
  std::string value;
  if ((only.empty() || only == "directory") &&
      LatestAtOrBefore(db_.get(), "d/", revision, &value) &&
      !doc.mutable_directory()->ParseFromString(value)) {
    return absl::DataLossError("policy store: a directory does not parse");
  }
  if (only == "directory") return doc;
  // Walk the datasets: for each, the newest version at or before revision.
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  const std::string start = only.empty() ? "o/" : ObjectPrefix(only);
  it->Seek(start);
  while (it->Valid() && it->key().starts_with("o/")) {
    const std::string key = it->key().ToString();
    const size_t zero = key.find('\0', 2);
    if (zero == std::string::npos) {
      return absl::DataLossError("policy store: a malformed object key");
    }
    const std::string dataset = key.substr(2, zero - 2);
    if (!only.empty() && dataset != only) break;
    if (LatestAtOrBefore(db_.get(), ObjectPrefix(dataset), revision, &value)) {
      v1::DatasetPolicy p;
      if (!p.ParseFromString(value)) {
        return absl::DataLossError(absl::StrCat("policy store: the policy of ",
                                                dataset, " does not parse"));
      }
      // An empty policy (no rules, no flags) means "removed".
      if (p.grants_size() + p.forbids_size() > 0 || p.has_two_person_rule()) {
        *doc.add_datasets() = std::move(p);
      }
    }
    if (!only.empty()) break;
    // Skip to the next dataset.
    it->Seek(ObjectPrefix(dataset) + std::string(9, '\xff'));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading");
  return doc;
}

absl::StatusOr<uint64_t> RocksDbPolicyStore::Commit(
    v1::PolicyRevision meta, const v1::PolicyDocument& changes,
    bool directory_changed, uint64_t expected_head,
    const std::string& resolves_pending) {
  absl::MutexLock commit_lock(&commit_mu_);
  v1::PolicyCommit commit;
  {
    absl::MutexLock lock(&mu_);
    if (head_ != expected_head) {
      return absl::AbortedError(
          absl::StrCat("the policy changed meanwhile (now revision ", head_,
                       "); review the change again and retry"));
    }
    rocksdb::WriteBatch batch;
    if (!resolves_pending.empty()) {
      std::string ignored;
      rocksdb::Status s =
          db_->Get(rocksdb::ReadOptions(), "p/" + resolves_pending, &ignored);
      if (s.IsNotFound()) {
        return absl::AbortedError(absl::StrCat(
            "pending change ", resolves_pending,
            " is no longer pending (approved or rejected meanwhile)"));
      }
      if (!s.ok()) return FromRocks(s, "reading a pending change");
      batch.Delete("p/" + resolves_pending);
    }
    const uint64_t rev = head_ + 1;
    meta.set_revision(rev);
    for (const v1::DatasetPolicy& p : changes.datasets()) {
      batch.Put(ObjectPrefix(p.dataset()) + EncodeBigEndian64(rev),
                p.SerializeAsString());
    }
    if (directory_changed) {
      batch.Put(DirectoryKey(rev), changes.directory().SerializeAsString());
    }
    batch.Put(RevisionKey(rev), meta.SerializeAsString());
    batch.Put(kHead, EncodeBigEndian64(rev));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    absl::Status s = FromRocks(db_->Write(wo, &batch), "committing");
    if (!s.ok()) return s;
    head_ = rev;
  }
  *commit.mutable_meta() = meta;
  *commit.mutable_changes() = changes;
  commit.set_directory_changed(directory_changed);
  for (PolicyWatcher* w : watchers_) w->OnCommit(commit);
  return meta.revision();
}

absl::StatusOr<v1::PolicyCommit> RocksDbPolicyStore::ReadCommit(
    uint64_t rev) const {
  v1::PolicyCommit commit;
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), RevisionKey(rev), &value);
  if (!s.ok()) return FromRocks(s, "reading a revision");
  if (!commit.mutable_meta()->ParseFromString(value)) {
    return absl::DataLossError("policy store: a revision does not parse");
  }
  for (const std::string& changed : commit.meta().changed()) {
    if (changed == "directory") {
      s = db_->Get(rocksdb::ReadOptions(), DirectoryKey(rev), &value);
      if (!s.ok()) return FromRocks(s, "reading a directory");
      if (!commit.mutable_changes()->mutable_directory()->ParseFromString(
              value)) {
        return absl::DataLossError("policy store: a directory does not parse");
      }
      commit.set_directory_changed(true);
      continue;
    }
    s = db_->Get(rocksdb::ReadOptions(),
                 ObjectPrefix(changed) + EncodeBigEndian64(rev), &value);
    if (!s.ok()) return FromRocks(s, "reading a dataset's policy");
    if (!commit.mutable_changes()->add_datasets()->ParseFromString(value)) {
      return absl::DataLossError("policy store: a policy does not parse");
    }
  }
  return commit;
}

absl::StatusOr<std::unique_ptr<PolicyStore::WatchHandle>>
RocksDbPolicyStore::Watch(uint64_t after, PolicyWatcher* watcher) {
  absl::MutexLock commit_lock(&commit_mu_);
  uint64_t head;
  {
    absl::MutexLock lock(&mu_);
    head = head_;
  }
  // What was committed since `after` first; no commit runs meanwhile.
  for (uint64_t rev = after + 1; rev <= head; ++rev) {
    absl::StatusOr<v1::PolicyCommit> c = ReadCommit(rev);
    if (!c.ok()) return c.status();
    watcher->OnCommit(*c);
  }
  watchers_.push_back(watcher);
  return std::unique_ptr<WatchHandle>(new Handle(this, watcher));
}

void RocksDbPolicyStore::Unwatch(PolicyWatcher* watcher) {
  absl::MutexLock commit_lock(&commit_mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher),
                  watchers_.end());
}

absl::StatusOr<std::vector<v1::PolicyRevision>> RocksDbPolicyStore::History(
    const std::string& dataset, size_t limit) const {
  std::vector<v1::PolicyRevision> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekForPrev(RevisionKey(UINT64_MAX));
       it->Valid() && it->key().starts_with("r/"); it->Prev()) {
    v1::PolicyRevision r;
    if (!r.ParseFromArray(it->value().data(), it->value().size())) {
      return absl::DataLossError("policy store: a revision does not parse");
    }
    if (!dataset.empty() && std::find(r.changed().begin(), r.changed().end(),
                                      dataset) == r.changed().end()) {
      continue;
    }
    out.push_back(std::move(r));
    if (limit != 0 && out.size() >= limit) break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading history");
  return out;
}

absl::Status RocksDbPolicyStore::PutPending(const v1::PendingChange& change) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, "p/" + change.id(), change.SerializeAsString()),
                   "storing a pending change");
}

absl::StatusOr<v1::PendingChange> RocksDbPolicyStore::GetPending(
    const std::string& id) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), "p/" + id, &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat(
        "no pending change '", id, "'; `dxctl policy pending` lists them"));
  }
  if (!s.ok()) return FromRocks(s, "reading a pending change");
  v1::PendingChange c;
  if (!c.ParseFromString(value)) {
    return absl::DataLossError("policy store: a pending change does not parse");
  }
  return c;
}

absl::Status RocksDbPolicyStore::DeletePending(const std::string& id) {
  // Under the commit lock, so that an approval's commit and a rejection
  // cannot both succeed.
  absl::MutexLock commit_lock(&commit_mu_);
  std::string ignored;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), "p/" + id, &ignored);
  if (s.IsNotFound()) {
    return absl::NotFoundError(
        absl::StrCat("pending change ", id, " is no longer pending"));
  }
  if (!s.ok()) return FromRocks(s, "reading a pending change");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Delete(wo, "p/" + id), "deleting a pending change");
}

absl::StatusOr<std::vector<v1::PendingChange>> RocksDbPolicyStore::ListPending()
    const {
  std::vector<v1::PendingChange> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("p/"); it->Valid() && it->key().starts_with("p/"); it->Next()) {
    v1::PendingChange c;
    if (!c.ParseFromArray(it->value().data(), it->value().size())) {
      return absl::DataLossError(
          "policy store: a pending change does not parse");
    }
    out.push_back(std::move(c));
  }
  return out;
}

absl::Status RocksDbPolicyStore::Checkpoint(const std::string& dir) const {
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // As the audit log's (audit/state_db.cc): the WAL is copied, no flush.
  if (s.ok()) {
    s = checkpoint->CreateCheckpoint(dir, std::numeric_limits<uint64_t>::max());
  }
  return FromRocks(s, "checkpointing the policy store");
}

}  // namespace dx::policy
