#include "audit/audit_reader.h"

#include <rocksdb/db.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "audit/attribution.h"
#include "audit/keys.h"
#include "audit/slice.h"
#include "audit/timestamps.h"
#include "common/status_macros.h"

namespace dx::audit {
namespace {

// Index entries examined per page at most, so a query whose other filters
// reject nearly everything still answers quickly (with a token to go on).
constexpr size_t kMaxScanPerPage = 200000;

absl::Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError(what);
  return absl::UnavailableError(absl::StrCat(what, ": ", s.ToString()));
}

}  // namespace

bool Matches(const AuditReader::Filter& f, const v1::AuditRecord& r) {
  if (f.from_micros > 0 && r.time_unix_micros() < f.from_micros) return false;
  if (f.to_micros > 0 && r.time_unix_micros() >= f.to_micros) return false;
  if (!f.consumer_agency.empty() && r.consumer_agency() != f.consumer_agency) {
    return false;
  }
  if (!f.consumer_any.empty() &&
      std::find(f.consumer_any.begin(), f.consumer_any.end(),
                r.consumer_agency()) == f.consumer_any.end()) {
    return false;
  }
  if (!f.provider_agency.empty() && r.provider_agency() != f.provider_agency) {
    return false;
  }
  if (!f.dataset_id.empty() && r.dataset_id() != f.dataset_id) return false;
  if (!f.subject_hmac.empty()) {
    auto holds = [&](const auto& hmacs) {
      return std::find(hmacs.begin(), hmacs.end(), f.subject_hmac) !=
             hmacs.end();
    };
    // A subject's hash, or a delivered record's (audit/record_hmac.h): the
    // two never coincide, so one filter serves both questions.
    if (r.data_subject_hmac() != f.subject_hmac &&
        !holds(r.event_subject_hmacs()) && !holds(r.delivered_record_hmacs())) {
      return false;
    }
  }
  if (!f.request_id.empty() && r.request_id() != f.request_id) return false;
  if (f.decision != v1::DECISION_UNSPECIFIED && r.decision() != f.decision) {
    return false;
  }
  return true;
}

PerfectSubtreeSource AuditReader::Source() const {
  return [db = db_](int level, uint64_t index) -> absl::StatusOr<std::string> {
    std::string value;
    rocksdb::Status s = db->db()->Get(rocksdb::ReadOptions(), db->cf(Cf::kTree),
                                      TreeNodeKey(level, index), &value);
    if (!s.ok()) {
      return absl::DataLossError(absl::StrCat("tree node (", level, ", ", index,
                                              ") missing: ", s.ToString()));
    }
    return value;
  };
}

absl::StatusOr<uint64_t> AuditReader::TreeSize() const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->cf(Cf::kTree)));
  it->SeekForPrev(TreeNodeKey(0, ~uint64_t{0}));
  DX_RETURN_IF_ERROR(FromRocks(it->status(), "cannot read the audit tree"));
  if (!it->Valid() || it->key()[0] != 0) return 0;
  return DecodeBigEndian64(View(it->key()).substr(1)) + 1;
}

absl::StatusOr<std::vector<std::optional<v1::StoredRecord>>>
AuditReader::GetMany(const std::vector<uint64_t>& seqs) const {
  std::vector<std::string> keys;
  std::vector<rocksdb::Slice> slices;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  keys.reserve(seqs.size() * 2);
  for (uint64_t seq : seqs) keys.push_back(EncodeBigEndian64(seq));
  for (uint64_t seq : seqs) keys.push_back(TreeNodeKey(0, seq));
  for (size_t i = 0; i < keys.size(); ++i) {
    slices.emplace_back(keys[i]);
    cfs.push_back(i < seqs.size() ? db_->records() : db_->cf(Cf::kTree));
  }
  std::vector<std::string> values;
  std::vector<rocksdb::Status> st =
      db_->db()->MultiGet(rocksdb::ReadOptions(), cfs, slices, &values);
  std::vector<std::optional<v1::StoredRecord>> out(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (st[i].IsNotFound()) continue;
    DX_RETURN_IF_ERROR(FromRocks(st[i], "cannot read the audit log"));
    DX_RETURN_IF_ERROR(
        FromRocks(st[seqs.size() + i], "cannot read the audit tree"));
    v1::StoredRecord& rec = out[i].emplace();
    rec.set_sequence_number(seqs[i]);
    rec.set_record_bytes(std::move(values[i]));
    if (!rec.mutable_record()->ParseFromString(rec.record_bytes())) {
      rec.clear_record();
    }
    Attribute(&rec);
    rec.set_leaf_hash(std::move(values[seqs.size() + i]));
  }
  return out;
}

absl::StatusOr<v1::StoredRecord> AuditReader::Get(uint64_t seq) const {
  v1::StoredRecord out;
  out.set_sequence_number(seq);
  rocksdb::Status s =
      db_->db()->Get(rocksdb::ReadOptions(), db_->records(),
                     EncodeBigEndian64(seq), out.mutable_record_bytes());
  DX_RETURN_IF_ERROR(FromRocks(s, absl::StrCat("audit record ", seq,
                                               " is not in the log (never "
                                               "written, or pruned)")));
  if (!out.mutable_record()->ParseFromString(out.record_bytes())) {
    out.clear_record();
  }
  Attribute(&out);
  DX_ASSIGN_OR_RETURN(*out.mutable_leaf_hash(), Source()(0, seq));
  return out;
}

absl::Status AuditReader::ReadRange(
    uint64_t from, uint64_t limit,
    const std::function<bool(v1::StoredRecord&&)>& emit) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->records()));
  std::unique_ptr<rocksdb::Iterator> leaves(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->cf(Cf::kTree)));
  uint64_t n = 0;
  for (it->Seek(EncodeBigEndian64(from)); it->Valid(); it->Next()) {
    if (limit != 0 && n++ >= limit) break;
    v1::StoredRecord rec;
    rec.set_sequence_number(DecodeBigEndian64(View(it->key())));
    rec.set_record_bytes(it->value().ToString());
    if (!rec.mutable_record()->ParseFromString(rec.record_bytes())) {
      rec.clear_record();
    }
    Attribute(&rec);
    const std::string leaf_key = TreeNodeKey(0, rec.sequence_number());
    leaves->Seek(leaf_key);
    if (leaves->Valid() && leaves->key() == leaf_key) {
      rec.set_leaf_hash(leaves->value().ToString());
    }
    if (!emit(std::move(rec))) return absl::OkStatus();
  }
  return FromRocks(it->status(), "cannot read the audit log");
}

absl::StatusOr<AuditReader::Page> AuditReader::Query(
    const Filter& f, size_t page_size, const std::string& page_token) const {
  // The most selective index the filter allows.
  Cf index = Cf::kIdxTime;
  std::string prefix;
  bool timed = true;
  if (!f.request_id.empty()) {
    index = Cf::kIdxRequest;
    prefix = IndexPrefix(index, f.request_id);
    if (!f.consumer_agency.empty()) {
      prefix += f.consumer_agency + std::string(1, '\0');
    }
    timed = false;
  } else if (!f.subject_hmac.empty()) {
    index = Cf::kIdxSubject;
    prefix = IndexPrefix(index, f.subject_hmac);
  } else if (!f.consumer_agency.empty()) {
    index = Cf::kIdxConsumer;
    prefix = IndexPrefix(index, f.consumer_agency);
  } else if (!f.dataset_id.empty()) {
    index = Cf::kIdxDataset;
    prefix = IndexPrefix(index, f.dataset_id);
  } else if (!f.provider_agency.empty()) {
    index = Cf::kIdxProvider;
    prefix = IndexPrefix(index, f.provider_agency);
  } else if (f.decision != v1::DECISION_UNSPECIFIED) {
    index = Cf::kIdxDecision;
    prefix = std::string(1, static_cast<char>(f.decision));
  }
  std::string begin, end;
  if (timed) {
    std::tie(begin, end) = TimeRange(prefix, f.from_micros, f.to_micros);
  } else {
    begin = prefix;
    end = prefix + std::string(9, '\xff');
  }
  // The token names the index and the last key examined.
  std::string resume_after;
  if (!page_token.empty()) {
    std::string raw;
    if (!absl::WebSafeBase64Unescape(page_token, &raw) || raw.empty() ||
        raw[0] != static_cast<char>(index)) {
      return absl::InvalidArgumentError(
          "page_token does not belong to this query; repeat the query "
          "without it");
    }
    resume_after = raw.substr(1);
  }
  Page page;
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(end);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(ro, db_->cf(index)));
  it->Seek(resume_after.empty() ? begin : resume_after);
  if (!resume_after.empty() && it->Valid() && it->key() == resume_after) {
    it->Next();
  }
  if (page_size == 0) page_size = 1;
  size_t scanned = 0;
  bool more = false;
  // Candidates are fetched in batches with MultiGet (records and leaves),
  // far cheaper than one Get after another on a cold cache.
  std::vector<std::pair<std::string, uint64_t>> batch;  // index key, seq
  std::string last_consumed;
  auto flush = [&]() -> absl::Status {
    std::vector<uint64_t> seqs;
    for (const auto& b : batch) seqs.push_back(b.second);
    DX_ASSIGN_OR_RETURN(auto found, GetMany(seqs));
    for (size_t i = 0; i < found.size(); ++i) {
      if (page.records.size() >= page_size) {
        more = true;  // resume at this candidate next time
        break;
      }
      last_consumed = batch[i].first;
      if (!found[i].has_value()) continue;  // pruned meanwhile
      if (!found[i]->has_record() || !Matches(f, found[i]->record())) continue;
      page.records.push_back(*std::move(found[i]));
    }
    batch.clear();
    return absl::OkStatus();
  };
  for (; it->Valid() && !more; it->Next()) {
    if (scanned >= kMaxScanPerPage) {
      more = true;
      break;
    }
    ++scanned;
    batch.emplace_back(it->key().ToString(),
                       SequenceOfIndexKey(View(it->key())));
    if (batch.size() >= std::max<size_t>(page_size - page.records.size(), 16)) {
      DX_RETURN_IF_ERROR(flush());
    }
  }
  if (!more) DX_RETURN_IF_ERROR(flush());
  if (!more && it->Valid()) more = true;
  if (more && last_consumed.empty()) more = false;  // nothing consumed: done
  if (more) {
    page.next_page_token = absl::WebSafeBase64Escape(
        std::string(1, static_cast<char>(index)) + last_consumed);
  }
  DX_RETURN_IF_ERROR(FromRocks(it->status(), "cannot search the audit log"));
  if (more) {
    page.next_page_token = absl::WebSafeBase64Escape(
        std::string(1, static_cast<char>(index)) + last_consumed);
  }
  return page;
}

absl::StatusOr<v1::SignedTreeHead> AuditReader::TreeHead(uint64_t size) const {
  std::string value;
  if (size == 0) {
    std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(
        rocksdb::ReadOptions(), db_->cf(Cf::kTreeHeads)));
    it->SeekToLast();
    DX_RETURN_IF_ERROR(FromRocks(it->status(), "cannot read tree heads"));
    if (!it->Valid()) {
      return absl::NotFoundError(
          "no signed tree head yet; one is made within a second of the "
          "first record");
    }
    value = it->value().ToString();
  } else {
    DX_RETURN_IF_ERROR(FromRocks(
        db_->db()->Get(rocksdb::ReadOptions(), db_->cf(Cf::kTreeHeads),
                       EncodeBigEndian64(size), &value),
        absl::StrCat("no signed tree head of size ", size,
                     "; list them with 'dxctl audit sth --list'")));
  }
  v1::SignedTreeHead sth;
  if (!sth.ParseFromString(value)) {
    return absl::DataLossError("a stored tree head does not parse");
  }
  return sth;
}

absl::StatusOr<std::vector<v1::SignedTreeHead>> AuditReader::ListTreeHeads(
    uint64_t from_size, size_t limit) const {
  std::vector<v1::SignedTreeHead> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->cf(Cf::kTreeHeads)));
  for (it->Seek(EncodeBigEndian64(from_size));
       it->Valid() && (limit == 0 || out.size() < limit); it->Next()) {
    v1::SignedTreeHead sth;
    if (!sth.ParseFromString(it->value().ToString())) {
      return absl::DataLossError("a stored tree head does not parse");
    }
    out.push_back(std::move(sth));
  }
  DX_RETURN_IF_ERROR(FromRocks(it->status(), "cannot read tree heads"));
  return out;
}

absl::StatusOr<v1::InclusionProof> AuditReader::Inclusion(
    uint64_t seq, uint64_t tree_size) const {
  DX_ASSIGN_OR_RETURN(v1::SignedTreeHead sth, TreeHead(tree_size));
  if (seq >= sth.tree_size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("record ", seq,
                     " is not yet covered by a signed tree head (latest "
                     "size ",
                     sth.tree_size(), "); retry in a second"));
  }
  v1::InclusionProof proof;
  proof.set_leaf_index(seq);
  proof.set_tree_size(sth.tree_size());
  DX_ASSIGN_OR_RETURN(*proof.mutable_leaf_hash(), Source()(0, seq));
  DX_ASSIGN_OR_RETURN(auto path,
                      InclusionProof(Source(), seq, sth.tree_size()));
  for (auto& p : path) proof.add_path(std::move(p));
  *proof.mutable_tree_head() = std::move(sth);
  return proof;
}

absl::StatusOr<std::vector<std::string>> AuditReader::ConsistencyPath(
    uint64_t first, uint64_t second) const {
  DX_ASSIGN_OR_RETURN(uint64_t tree_size, TreeSize());
  if (first > second || second > tree_size) {
    return absl::OutOfRangeError(
        absl::StrCat("no consistency path from ", first, " to ", second,
                     " in a tree of ", tree_size, " leaves"));
  }
  return ConsistencyProof(Source(), first, second);
}

absl::StatusOr<v1::ConsistencyProof> AuditReader::Consistency(
    uint64_t first, uint64_t second) const {
  DX_ASSIGN_OR_RETURN(v1::SignedTreeHead second_sth, TreeHead(second));
  DX_ASSIGN_OR_RETURN(v1::SignedTreeHead first_sth, TreeHead(first));
  if (first_sth.tree_size() > second_sth.tree_size()) {
    return absl::InvalidArgumentError("first size is after second size");
  }
  v1::ConsistencyProof proof;
  proof.set_first_size(first_sth.tree_size());
  proof.set_second_size(second_sth.tree_size());
  DX_ASSIGN_OR_RETURN(auto path,
                      ConsistencyProof(Source(), first_sth.tree_size(),
                                       second_sth.tree_size()));
  for (auto& p : path) proof.add_path(std::move(p));
  *proof.mutable_first_tree_head() = std::move(first_sth);
  *proof.mutable_second_tree_head() = std::move(second_sth);
  return proof;
}

absl::StatusOr<std::vector<std::string>> AuditReader::CompactRangeHashes(
    uint64_t size) const {
  DX_ASSIGN_OR_RETURN(uint64_t tree_size, TreeSize());
  if (size > tree_size) {
    return absl::OutOfRangeError(
        absl::StrCat("the tree has only ", tree_size, " leaves"));
  }
  std::vector<std::string> out;
  uint64_t begin = 0;
  for (int level = 63; level >= 0; --level) {
    if (!(size & (uint64_t{1} << level))) continue;
    DX_ASSIGN_OR_RETURN(std::string h, Source()(level, begin >> level));
    out.push_back(std::move(h));
    begin += uint64_t{1} << level;
  }
  return out;
}

absl::StatusOr<std::vector<v1::TreeHeadTimestamp>>
AuditReader::TimestampsForBundle(uint64_t to, uint64_t head_size) const {
  return audit::TimestampsForBundle(*db_, to, head_size);
}

}  // namespace dx::audit
