#include "gateway/replay_guard.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "certs/crypto.h"

namespace dx::gateway {

absl::uint128 InMemoryReplayGuard::Key(char kind, const std::string& consumer,
                                       const std::string& value) {
  // A 0 byte separates the parts: agency codes never hold one, and the
  // kind comes first, so no two (kind, consumer, value) share an input.
  std::string input;
  input.reserve(2 + consumer.size() + 1 + value.size());
  input.push_back(kind);
  input.push_back('\0');
  input.append(consumer);
  input.push_back('\0');
  input.append(value);
  const std::string digest = certs::Sha256(input);
  uint64_t hi, lo;
  std::memcpy(&hi, digest.data(), 8);
  std::memcpy(&lo, digest.data() + 8, 8);
  return absl::MakeUint128(hi, lo);
}

InMemoryReplayGuard::Shard& InMemoryReplayGuard::ShardOf(
    std::array<Shard, kShards>& shards, absl::uint128 key) {
  return shards[absl::Uint128Low64(key) % kShards];
}

void InMemoryReplayGuard::MaybeSweep(Shard& shard, int64_t now) {
  if (now < shard.next_sweep_micros) return;
  shard.next_sweep_micros = now + 1'000'000;
  auto& map = shard.expiry_micros;
  for (auto it = map.begin(); it != map.end();) {
    if (it->second < now) {
      map.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::StatusOr<bool> InMemoryReplayGuard::CheckAndRemember(
    const std::string& consumer, const std::string& request_id,
    const std::string& nonce, absl::Time expires_at) {
  const absl::uint128 id_key = Key('i', consumer, request_id);
  const absl::uint128 nonce_key = Key('n', consumer, nonce);
  const int64_t now = absl::ToUnixMicros(clock_->Now());
  const int64_t expiry = absl::ToUnixMicros(expires_at);
  Shard* first = &ShardOf(shards_, id_key);
  Shard* second = &ShardOf(shards_, nonce_key);
  // Both shards locked, always in address order, so that check-then-
  // remember is atomic for the pair and two exchanges cannot deadlock.
  if (second < first) std::swap(first, second);
  absl::MutexLock lock_first(&first->mu);
  absl::MutexLockMaybe lock_second(second != first ? &second->mu : nullptr);
  for (const absl::uint128 key : {id_key, nonce_key}) {
    Shard& shard = ShardOf(shards_, key);
    shard.mu.AssertHeld();
    auto it = shard.expiry_micros.find(key);
    if (it != shard.expiry_micros.end() && it->second >= now) return false;
  }
  for (const absl::uint128 key : {id_key, nonce_key}) {
    Shard& shard = ShardOf(shards_, key);
    shard.mu.AssertHeld();
    MaybeSweep(shard, now);
    shard.expiry_micros[key] = expiry;
  }
  return true;
}

void InMemoryReplayGuard::Remember(const std::string& consumer,
                                   const std::string& request_id,
                                   const std::string& nonce,
                                   absl::Time expires_at) {
  const int64_t expiry = absl::ToUnixMicros(expires_at);
  for (const absl::uint128 key :
       {Key('i', consumer, request_id), Key('n', consumer, nonce)}) {
    Shard& shard = ShardOf(shards_, key);
    absl::MutexLock lock(&shard.mu);
    int64_t& stored = shard.expiry_micros[key];
    stored = std::max(stored, expiry);
  }
}

size_t InMemoryReplayGuard::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    n += shard.expiry_micros.size();
  }
  return n;
}

absl::StatusOr<uint64_t> RebuildFromAuditLog(const audit::AuditReader& log,
                                             InMemoryReplayGuard* guard,
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
      guard->Remember(r.consumer_agency(), r.request_id(), r.nonce(), expires);
      ++restored;
    }
    token = page->next_page_token;
  } while (!token.empty());
  return restored;
}

}  // namespace dx::gateway
