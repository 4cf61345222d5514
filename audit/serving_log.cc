#include "audit/serving_log.h"

#include <rocksdb/db.h>

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/bytes.h"

namespace dx::audit {
namespace {

constexpr absl::string_view kPrefix = "serving/";

std::string Key(int64_t minute) {
  return absl::StrCat(kPrefix,
                      EncodeBigEndian64(static_cast<uint64_t>(minute)));
}

bool Parse(const rocksdb::Slice& key, const rocksdb::Slice& value,
           Heartbeat* out) {
  if (key.size() != kPrefix.size() + 8 || value.size() != 9) return false;
  out->minute = static_cast<int64_t>(
      DecodeBigEndian64(absl::string_view(key.data() + kPrefix.size(), 8)));
  out->process_start_micros = static_cast<int64_t>(
      DecodeBigEndian64(absl::string_view(value.data(), 8)));
  out->ready = value[8] == 1;
  return true;
}

}  // namespace

absl::Status ServingLog::Note(absl::Time now, bool ready) {
  const int64_t minute = absl::ToUnixMicros(now) / kMicrosPerMinute;
  if (minute != minute_) {
    minute_ = minute;
    ready_ = true;
  }
  ready_ = ready_ && ready;
  std::string value = EncodeBigEndian64(process_start_micros_);
  value.push_back(ready_ ? 1 : 0);
  rocksdb::Status s = db_->db()->Put(rocksdb::WriteOptions(),
                                     db_->cf(Cf::kMeta), Key(minute), value);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("recording the serving state: ", s.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Heartbeat>> ServingLog::Read(StateDb* db,
                                                        int64_t from_micros,
                                                        int64_t to_micros) {
  std::vector<Heartbeat> out;
  const std::string end = Key(to_micros / kMicrosPerMinute);
  std::unique_ptr<rocksdb::Iterator> it(
      db->db()->NewIterator(rocksdb::ReadOptions(), db->cf(Cf::kMeta)));
  for (it->Seek(Key(from_micros / kMicrosPerMinute));
       it->Valid() && it->key().compare(end) < 0; it->Next()) {
    Heartbeat b;
    if (Parse(it->key(), it->value(), &b)) out.push_back(b);
  }
  if (!it->status().ok()) {
    return absl::UnavailableError(
        absl::StrCat("reading the serving state: ", it->status().ToString()));
  }
  return out;
}

absl::StatusOr<int64_t> ServingLog::FirstMinute(StateDb* db) {
  std::unique_ptr<rocksdb::Iterator> it(
      db->db()->NewIterator(rocksdb::ReadOptions(), db->cf(Cf::kMeta)));
  const std::string prefix(kPrefix);
  it->Seek(prefix);
  if (!it->status().ok()) {
    return absl::UnavailableError(
        absl::StrCat("reading the serving state: ", it->status().ToString()));
  }
  Heartbeat b;
  if (it->Valid() && it->key().starts_with(prefix) &&
      Parse(it->key(), it->value(), &b)) {
    return b.minute;
  }
  return -1;
}

}  // namespace dx::audit
