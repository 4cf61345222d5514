#include "cluster/etcd_quota_store.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dx::cluster {
namespace {

// Buckets of the minute and of the (Vietnamese) day; their keys outlive
// the window by a margin and then go with their lease.
constexpr absl::Duration kMargin = absl::Minutes(2);
constexpr int kCasAttempts = 64;

bool IsDayBucket(const policy::QuotaBucket& b) {
  return b.name.size() >= 4 &&
         b.name.compare(b.name.size() - 4, 4, "/rpd") == 0;
}

absl::Time WindowEnd(const policy::QuotaBucket& b) {
  // Minutes since the epoch, or days since the epoch in UTC+7.
  return IsDayBucket(b)
             ? absl::FromUnixSeconds((b.window + 1) * 86400 - 7 * 3600)
             : absl::FromUnixSeconds((b.window + 1) * 60);
}

}  // namespace

EtcdQuotaStore::EtcdQuotaStore(etcd::Client* client, const Clock* clock,
                               Options options)
    : client_(client),
      options_(std::move(options)),
      minute_leases_(client, clock, absl::Minutes(1), kMargin),
      day_leases_(client, clock, absl::Hours(24), kMargin) {
  worker_ = std::thread([this] { WorkerLoop(); });
}

EtcdQuotaStore::~EtcdQuotaStore() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  worker_.join();
}

uint64_t EtcdQuotaStore::ChunkFor(uint64_t capacity) const {
  return std::max<uint64_t>(
      1, static_cast<uint64_t>(std::floor(capacity * options_.chunk)));
}

std::string EtcdQuotaStore::KeyOf(const policy::QuotaBucket& b) const {
  return absl::StrCat(options_.prefix, "quota/", b.name, "/", b.window);
}

EtcdQuotaStore::Local& EtcdQuotaStore::LocalOf(
    const policy::QuotaBucket& bucket) {
  Local& l = local_[bucket.name];
  if (l.window != bucket.window) l = {bucket.window, 0, false};
  return l;
}

EtcdQuotaStore::LocalVerdict EtcdQuotaStore::TakeLocal(
    const std::vector<policy::QuotaTake>& takes, bool final,
    policy::QuotaTakeResult* result) {
  bool ask_etcd = false;
  for (size_t i = 0; i < takes.size(); ++i) {
    const policy::QuotaTake& t = takes[i];
    const Local& l = LocalOf(t.bucket);
    if (l.tokens >= t.max) continue;
    if (!l.drained && !final) {
      ask_etcd = true;
    } else if (l.tokens < t.min) {
      result->granted = false;
      result->short_bucket = i;
      return LocalVerdict::kRefused;
    }
  }
  if (ask_etcd) return LocalVerdict::kAskEtcd;
  result->granted = true;
  result->taken.clear();
  for (const policy::QuotaTake& t : takes) {
    Local& l = LocalOf(t.bucket);
    const uint64_t n = std::min(t.max, l.tokens);
    l.tokens -= n;
    result->taken.push_back(n);
  }
  return LocalVerdict::kGranted;
}

void EtcdQuotaStore::Take(std::vector<policy::QuotaTake> takes, Cancellation*,
                          TakeCallback done) {
  policy::QuotaTakeResult result;
  {
    absl::MutexLock lock(&mu_);
    if (TakeLocal(takes, /*final=*/false, &result) == LocalVerdict::kAskEtcd) {
      // The etcd round trip runs on the store's thread.
      jobs_.push_back({std::move(takes), std::move(done)});
      return;
    }
  }
  done(std::move(result));
}

void EtcdQuotaStore::PutBack(const policy::QuotaBucket& bucket,
                             uint64_t tokens) {
  // Back to this node's chunk: spent by its next calls, or lost at the end
  // of the window (never more than was taken from etcd).
  absl::MutexLock lock(&mu_);
  Local& l = local_[bucket.name];
  if (l.window == bucket.window) l.tokens += tokens;
}

absl::StatusOr<uint64_t> EtcdQuotaStore::Refill(
    const policy::QuotaBucket& bucket, uint64_t want) {
  const std::string key = KeyOf(bucket);
  LeaseCache& leases = IsDayBucket(bucket) ? day_leases_ : minute_leases_;
  absl::StatusOr<int64_t> lease = leases.LeaseUntil(WindowEnd(bucket));
  if (!lease.ok()) return lease.status();
  // What the counter holds: read once, then from each failed swap's answer.
  etcdserverpb::RangeRequest read;
  read.set_key(key);
  absl::StatusOr<etcdserverpb::RangeResponse> got = client_->RangeNow(read);
  if (!got.ok()) return got.status();
  const auto* kvs = &got->kvs();
  etcdserverpb::RangeResponse last;
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    uint64_t used = 0;
    int64_t mod = 0;
    if (!kvs->empty()) {
      (void)absl::SimpleAtoi((*kvs)[0].value(), &used);
      mod = (*kvs)[0].mod_revision();
    }
    if (used >= bucket.capacity) return 0;
    const uint64_t take = std::min(want, bucket.capacity - used);
    etcdserverpb::TxnRequest cas;
    etcdserverpb::Compare* c = cas.add_compare();
    c->set_key(key);
    c->set_target(etcdserverpb::Compare::MOD);
    c->set_result(etcdserverpb::Compare::EQUAL);
    c->set_mod_revision(mod);  // 0: the key does not exist yet
    etcdserverpb::PutRequest* put = cas.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(absl::StrCat(used + take));
    put->set_lease(*lease);
    cas.add_failure()->mutable_request_range()->set_key(key);
    absl::StatusOr<etcdserverpb::TxnResponse> done = client_->TxnNow(cas);
    if (!done.ok()) return done.status();
    if (done->succeeded()) return take;
    // Another node took some meanwhile: try again with what it left.
    if (done->responses_size() == 0) break;
    last = done->responses(0).response_range();
    kvs = &last.kvs();
  }
  return absl::UnavailableError(
      "the quota counters are too contended; retry in a moment");
}

absl::StatusOr<policy::QuotaTakeResult> EtcdQuotaStore::TakeWithRefill(
    const std::vector<policy::QuotaTake>& takes) {
  for (const policy::QuotaTake& t : takes) {
    uint64_t have;
    {
      absl::MutexLock lock(&mu_);
      const Local& l = LocalOf(t.bucket);
      if (l.tokens >= t.max || l.drained) continue;
      have = l.tokens;
    }
    // The most this take wants, or a chunk if more.
    const uint64_t want = std::max(ChunkFor(t.bucket.capacity), t.max - have);
    absl::StatusOr<uint64_t> got = Refill(t.bucket, want);
    if (!got.ok()) return got.status();
    absl::MutexLock lock(&mu_);
    Local& l = local_[t.bucket.name];
    if (l.window != t.bucket.window) continue;  // a later window came first
    l.tokens += *got;
    if (*got < want) l.drained = true;
  }
  policy::QuotaTakeResult result;
  absl::MutexLock lock(&mu_);
  (void)TakeLocal(takes, /*final=*/true, &result);
  return result;
}

void EtcdQuotaStore::WorkerLoop() {
  for (;;) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !jobs_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job.done(TakeWithRefill(job.takes));
  }
}

}  // namespace dx::cluster
