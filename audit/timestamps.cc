#include "audit/timestamps.h"

#include <rocksdb/db.h>

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/bytes.h"

namespace dx::audit {
namespace {

constexpr char kPrefix[] = "tsa/";

std::string Key(uint64_t tree_size) {
  return absl::StrCat(kPrefix, EncodeBigEndian64(tree_size));
}

absl::StatusOr<v1::TreeHeadTimestamp> Parse(const rocksdb::Slice& value) {
  v1::TreeHeadTimestamp stamp;
  if (!stamp.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError("a stored tree head time-stamp does not parse");
  }
  return stamp;
}

}  // namespace

absl::Status PutTreeHeadTimestamp(StateDb* db,
                                  const v1::TreeHeadTimestamp& stamp) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s =
      db->db()->Put(wo, db->cf(Cf::kMeta), Key(stamp.tree_head().tree_size()),
                    stamp.SerializeAsString());
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("storing a tree head time-stamp: ", s.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::TreeHeadTimestamp>> LatestTreeHeadTimestamp(
    const StateDb& db) {
  std::unique_ptr<rocksdb::Iterator> it(
      db.db()->NewIterator(rocksdb::ReadOptions(), db.cf(Cf::kMeta)));
  it->SeekForPrev(Key(~uint64_t{0}));
  if (!it->Valid() || !it->key().starts_with(kPrefix)) {
    if (!it->status().ok()) {
      return absl::UnavailableError(it->status().ToString());
    }
    return std::nullopt;
  }
  absl::StatusOr<v1::TreeHeadTimestamp> stamp = Parse(it->value());
  if (!stamp.ok()) return stamp.status();
  return std::optional<v1::TreeHeadTimestamp>(*std::move(stamp));
}

absl::StatusOr<std::vector<v1::TreeHeadTimestamp>> TimestampsForBundle(
    const StateDb& db, uint64_t to, uint64_t head_size) {
  std::vector<v1::TreeHeadTimestamp> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db.db()->NewIterator(rocksdb::ReadOptions(), db.cf(Cf::kMeta)));
  it->Seek(Key(to));
  if (it->Valid() && it->key().starts_with(kPrefix) &&
      it->key().size() == sizeof(kPrefix) - 1 + 8 &&
      DecodeBigEndian64(std::string(it->key().data() + sizeof(kPrefix) - 1,
                                    8)) <= head_size) {
    absl::StatusOr<v1::TreeHeadTimestamp> stamp = Parse(it->value());
    if (!stamp.ok()) return stamp.status();
    out.push_back(*std::move(stamp));
    return out;
  }
  it->SeekForPrev(Key(to));
  if (it->Valid() && it->key().starts_with(kPrefix)) {
    absl::StatusOr<v1::TreeHeadTimestamp> stamp = Parse(it->value());
    if (!stamp.ok()) return stamp.status();
    if (stamp->tree_head().tree_size() > 0) out.push_back(*std::move(stamp));
  }
  if (!it->status().ok())
    return absl::UnavailableError(it->status().ToString());
  return out;
}

}  // namespace dx::audit
