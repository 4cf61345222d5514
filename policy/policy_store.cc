#include "policy/policy_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "absl/strings/str_cat.h"
#include "audit/keys.h"

namespace dx::policy {
namespace {

using audit::DecodeBigEndian64;
using audit::EncodeBigEndian64;

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

PolicyStore::PolicyStore(std::unique_ptr<rocksdb::DB> db)
    : db_(std::move(db)) {}
PolicyStore::~PolicyStore() = default;

absl::StatusOr<std::unique_ptr<PolicyStore>> PolicyStore::Open(
    const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 64;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot open the policy store at ", path, ": ", s.ToString()));
  }
  std::unique_ptr<PolicyStore> store(
      new PolicyStore(std::unique_ptr<rocksdb::DB>(raw)));
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

uint64_t PolicyStore::head() const {
  absl::MutexLock lock(&mu_);
  return head_;
}

absl::StatusOr<v1::PolicyDocument> PolicyStore::StateAt(
    uint64_t revision, const std::string& only) const {
  const uint64_t head_now = head();
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

absl::StatusOr<uint64_t> PolicyStore::Commit(v1::PolicyRevision meta,
                                             const v1::PolicyDocument& changes,
                                             bool directory_changed,
                                             uint64_t expected_head) {
  absl::MutexLock lock(&mu_);
  if (head_ != expected_head) {
    return absl::AbortedError(
        absl::StrCat("the policy changed meanwhile (now revision ", head_,
                     "); review the change again and retry"));
  }
  const uint64_t rev = head_ + 1;
  meta.set_revision(rev);
  rocksdb::WriteBatch batch;
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
  return rev;
}

absl::StatusOr<std::vector<v1::PolicyRevision>> PolicyStore::History(
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

absl::Status PolicyStore::PutPending(const v1::PendingChange& change) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, "p/" + change.id(), change.SerializeAsString()),
                   "storing a pending change");
}

absl::StatusOr<v1::PendingChange> PolicyStore::GetPending(
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

absl::Status PolicyStore::DeletePending(const std::string& id) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Delete(wo, "p/" + id), "deleting a pending change");
}

absl::StatusOr<std::vector<v1::PendingChange>> PolicyStore::ListPending()
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

}  // namespace dx::policy
