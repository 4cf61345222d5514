#include "gateway/replay_guard.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "absl/strings/str_cat.h"
#include "audit/keys.h"

namespace dx::gateway {

absl::StatusOr<bool> RocksDbReplayGuard::CheckAndRemember(
    const std::string& consumer, const std::string& request_id,
    const std::string& nonce, absl::Time expires_at) {
  // A 0 byte separates the parts: agency codes and request ids never hold one.
  const std::string id_key =
      absl::StrCat("id/", consumer, std::string(1, '\0'), request_id);
  const std::string nonce_key =
      absl::StrCat("nonce/", consumer, std::string(1, '\0'), nonce);
  const int64_t now = absl::ToUnixMicros(clock_->Now());
  absl::MutexLock lock(&mu_);
  for (const std::string* key : {&id_key, &nonce_key}) {
    std::string value;
    rocksdb::Status s =
        db_->db()->Get(rocksdb::ReadOptions(), db_->replay(), *key, &value);
    if (s.ok()) {
      if (static_cast<int64_t>(audit::DecodeBigEndian64(value)) >= now) {
        return false;
      }
    } else if (!s.IsNotFound()) {
      return absl::UnavailableError(
          absl::StrCat("replay guard cannot read: ", s.ToString()));
    }
  }
  const std::string expiry = audit::EncodeBigEndian64(
      static_cast<uint64_t>(absl::ToUnixMicros(expires_at)));
  rocksdb::WriteBatch batch;
  batch.Put(db_->replay(), id_key, expiry);
  batch.Put(db_->replay(), nonce_key, expiry);
  rocksdb::Status s = db_->db()->Write(rocksdb::WriteOptions(), &batch);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("replay guard cannot write: ", s.ToString()));
  }
  return true;
}

}  // namespace dx::gateway
