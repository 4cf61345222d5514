#include "replay/in_memory_replay_store.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "certs/crypto.h"

namespace dx::replay {

absl::uint128 InMemoryReplayStore::Key(char kind, const std::string& consumer,
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

InMemoryReplayStore::Shard& InMemoryReplayStore::ShardOf(
    std::array<Shard, kShards>& shards, absl::uint128 key) {
  return shards[absl::Uint128Low64(key) % kShards];
}

void InMemoryReplayStore::MaybeSweep(Shard& shard, int64_t now) {
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

void InMemoryReplayStore::CheckAndRemember(const ReplayKey& key, Cancellation*,
                                           Callback done) {
  done(CheckAndRememberNow(key));
}

bool InMemoryReplayStore::CheckAndRememberNow(const ReplayKey& key) {
  const absl::uint128 id_key = Key('i', key.consumer, key.request_id);
  const absl::uint128 nonce_key = Key('n', key.consumer, key.nonce);
  const int64_t now = absl::ToUnixMicros(clock_->Now());
  const int64_t expiry = absl::ToUnixMicros(key.expires_at);
  Shard* first = &ShardOf(shards_, id_key);
  Shard* second = &ShardOf(shards_, nonce_key);
  // Both shards locked, always in address order, so that check-then-
  // remember is atomic for the pair and two exchanges cannot deadlock.
  if (second < first) std::swap(first, second);
  absl::MutexLock lock_first(&first->mu);
  absl::MutexLockMaybe lock_second(second != first ? &second->mu : nullptr);
  for (const absl::uint128 k : {id_key, nonce_key}) {
    Shard& shard = ShardOf(shards_, k);
    shard.mu.AssertHeld();
    auto it = shard.expiry_micros.find(k);
    if (it != shard.expiry_micros.end() && it->second >= now) return false;
  }
  for (const absl::uint128 k : {id_key, nonce_key}) {
    Shard& shard = ShardOf(shards_, k);
    shard.mu.AssertHeld();
    MaybeSweep(shard, now);
    shard.expiry_micros[k] = expiry;
  }
  return true;
}

void InMemoryReplayStore::Forget(const ReplayKey& key) {
  for (const absl::uint128 k : {Key('i', key.consumer, key.request_id),
                                Key('n', key.consumer, key.nonce)}) {
    Shard& shard = ShardOf(shards_, k);
    absl::MutexLock lock(&shard.mu);
    shard.expiry_micros.erase(k);
  }
}

void InMemoryReplayStore::Remember(const ReplayKey& key) {
  const int64_t expiry = absl::ToUnixMicros(key.expires_at);
  for (const absl::uint128 k : {Key('i', key.consumer, key.request_id),
                                Key('n', key.consumer, key.nonce)}) {
    Shard& shard = ShardOf(shards_, k);
    absl::MutexLock lock(&shard.mu);
    int64_t& stored = shard.expiry_micros[k];
    stored = std::max(stored, expiry);
  }
}

size_t InMemoryReplayStore::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    n += shard.expiry_micros.size();
  }
  return n;
}

absl::StatusOr<uint64_t> RebuildFromAuditLog(const audit::AuditReader& log,
                                             InMemoryReplayStore* store,
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
      store->Remember(
          {r.consumer_agency(), r.request_id(), r.nonce(), expires});
      ++restored;
    }
    token = page->next_page_token;
  } while (!token.empty());
  return restored;
}

}  // namespace dx::replay
