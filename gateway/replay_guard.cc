#include "gateway/replay_guard.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "absl/strings/str_cat.h"
#include "audit/keys.h"

namespace dx::gateway {

namespace {

// A 0 byte separates the parts: agency codes and request ids never hold one.
std::string IdKey(const std::string& consumer, const std::string& request_id) {
  return absl::StrCat("id/", consumer, std::string(1, '\0'), request_id);
}
std::string NonceKey(const std::string& consumer, const std::string& nonce) {
  return absl::StrCat("nonce/", consumer, std::string(1, '\0'), nonce);
}

}  // namespace

absl::StatusOr<bool> RocksDbReplayGuard::CheckAndRemember(
    const std::string& consumer, const std::string& request_id,
    const std::string& nonce, absl::Time expires_at) {
  const std::string id_key = IdKey(consumer, request_id);
  const std::string nonce_key = NonceKey(consumer, nonce);
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
  absl::Status s = Remember(consumer, request_id, nonce, expires_at);
  if (!s.ok()) return s;
  return true;
}

absl::Status RocksDbReplayGuard::Remember(const std::string& consumer,
                                          const std::string& request_id,
                                          const std::string& nonce,
                                          absl::Time expires_at) {
  const std::string expiry = audit::EncodeBigEndian64(
      static_cast<uint64_t>(absl::ToUnixMicros(expires_at)));
  rocksdb::WriteBatch batch;
  batch.Put(db_->replay(), IdKey(consumer, request_id), expiry);
  batch.Put(db_->replay(), NonceKey(consumer, nonce), expiry);
  rocksdb::Status s = db_->db()->Write(rocksdb::WriteOptions(), &batch);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("replay guard cannot write: ", s.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> RebuildFromAuditLog(const audit::AuditReader& log,
                                             RocksDbReplayGuard* guard,
                                             absl::Time now,
                                             absl::Duration window) {
  audit::AuditReader::Filter f;
  f.from_micros = absl::ToUnixMicros(now - window);
  uint64_t restored = 0;
  std::string token;
  do {
    auto page = log.Query(f, 10000, token);
    if (!page.ok()) return page.status();
    for (const auto& stored : page->records) {
      const v1::AuditRecord& r = stored.record();
      const absl::Time expires =
          absl::FromUnixMicros(r.request_expires_unix_micros());
      if (r.request_id().empty() || r.nonce().empty() || expires < now)
        continue;
      absl::Status s = guard->Remember(r.consumer_agency(), r.request_id(),
                                       r.nonce(), expires);
      if (!s.ok()) return s;
      ++restored;
    }
    token = page->next_page_token;
  } while (!token.empty());
  return restored;
}

}  // namespace dx::gateway
