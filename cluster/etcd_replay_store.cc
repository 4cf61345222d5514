#include "cluster/etcd_replay_store.h"

#include "absl/strings/str_cat.h"
#include "certs/crypto.h"
#include "common/bytes.h"

namespace dx::cluster {
namespace {

// Every key of one minute shares a lease that outlives the minute by this
// much: the expiry is a floor, and nodes' clocks may differ by the skew
// the gateway accepts.
constexpr absl::Duration kLeaseWindow = absl::Minutes(1);
constexpr absl::Duration kLeaseMargin = absl::Minutes(1);

}  // namespace

EtcdReplayStore::EtcdReplayStore(etcd::Client* client, const Clock* clock,
                                 Options options)
    : client_(client),
      options_(std::move(options)),
      memory_(clock),
      leases_(client, clock, kLeaseWindow, kLeaseMargin) {
  sender_ = std::thread([this] { SenderLoop(); });
}

EtcdReplayStore::~EtcdReplayStore() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  sender_.join();
}

std::string EtcdReplayStore::KeyOf(char kind, const std::string& consumer,
                                   const std::string& value) const {
  std::string input;
  input.push_back(kind);
  input.push_back('\0');
  input.append(consumer);
  input.push_back('\0');
  input.append(value);
  return absl::StrCat(options_.prefix, "replay/", std::string(1, kind), "/",
                      HexEncode(certs::Sha256(input).substr(0, 16)));
}

void EtcdReplayStore::CheckAndRemember(const replay::ReplayKey& key,
                                       Cancellation*, Callback done) {
  // This node has seen it: a replay, known without a round trip.
  if (!memory_.CheckAndRememberNow(key)) {
    done(false);
    return;
  }
  Pending p;
  p.key = key;
  p.id_key = KeyOf('i', key.consumer, key.request_id);
  p.nonce_key = KeyOf('n', key.consumer, key.nonce);
  p.done = std::move(done);
  absl::MutexLock lock(&mu_);
  p.token = absl::StrCat(options_.node_id, "/", ++attempts_, "/",
                         HexEncode(certs::RandomBytes(4)));
  queue_.push_back(std::move(p));
}

void EtcdReplayStore::SenderLoop() {
  for (;;) {
    std::vector<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, nothing left
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    // One transaction for everything that arrived while the last was out.
    Send(std::move(batch));
  }
}

void EtcdReplayStore::Send(std::vector<Pending> batch) {
  auto fail = [&](const absl::Status& why) {
    for (Pending& p : batch) {
      memory_.Forget(p.key);  // the client's retry must not look like a replay
      p.done(absl::UnavailableError(
          absl::StrCat("the cluster's replay guard (etcd) cannot be reached: ",
                       why.message())));
    }
  };
  etcdserverpb::TxnRequest outer;
  for (const Pending& p : batch) {
    absl::StatusOr<int64_t> lease = leases_.LeaseUntil(p.key.expires_at);
    if (!lease.ok()) {
      fail(lease.status());
      return;
    }
    etcdserverpb::TxnRequest* inner =
        outer.add_success()->mutable_request_txn();
    for (const std::string* k : {&p.id_key, &p.nonce_key}) {
      etcdserverpb::Compare* c = inner->add_compare();
      c->set_key(*k);
      c->set_target(etcdserverpb::Compare::VERSION);
      c->set_result(etcdserverpb::Compare::EQUAL);
      c->set_version(0);
      etcdserverpb::PutRequest* put =
          inner->add_success()->mutable_request_put();
      put->set_key(*k);
      put->set_value(p.token);
      put->set_lease(*lease);
      inner->add_failure()->mutable_request_range()->set_key(*k);
    }
  }
  absl::StatusOr<etcdserverpb::TxnResponse> resp = client_->TxnNow(outer);
  if (!resp.ok()) {
    fail(resp.status());
    return;
  }
  if (resp->responses_size() != static_cast<int>(batch.size())) {
    fail(absl::InternalError("etcd answered a different number of checks"));
    return;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    const etcdserverpb::TxnResponse& r = resp->responses(i).response_txn();
    bool fresh = r.succeeded();
    if (!fresh) {
      // Our own earlier attempt, retried after an unknown outcome, finds
      // its own token in both keys.
      fresh = r.responses_size() == 2;
      for (const auto& op : r.responses()) {
        const auto& kvs = op.response_range().kvs();
        if (kvs.empty() || kvs[0].value() != batch[i].token) fresh = false;
      }
    }
    batch[i].done(fresh);
  }
}

}  // namespace dx::cluster
