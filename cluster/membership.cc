#include "cluster/membership.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace dx::cluster {

Membership::Membership(etcd::Client* client, const Clock* clock,
                       Options options)
    : client_(client), clock_(clock), options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  self_ = options_.self;
}

absl::Status Membership::SetAddress(const std::string& address) {
  {
    absl::MutexLock lock(&mu_);
    self_.set_address(address);
  }
  return Register();
}

absl::StatusOr<std::unique_ptr<Membership>> Membership::Join(
    etcd::Client* client, const Clock* clock, Options options) {
  std::unique_ptr<Membership> m(new Membership(client, clock, options));
  DX_RETURN_IF_ERROR(m->Register());
  m->thread_ = std::thread([p = m.get()] { p->Loop(); });
  return m;
}

Membership::~Membership() {
  int64_t lease;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    lease = lease_;
  }
  if (thread_.joinable()) thread_.join();
  if (lease != 0) (void)client_->RevokeLease(lease);
}

absl::Status Membership::Register() {
  DX_ASSIGN_OR_RETURN(int64_t lease, client_->GrantLease(options_.lease_ttl));
  etcdserverpb::PutRequest put;
  int64_t previous;
  {
    absl::MutexLock lock(&mu_);
    put.set_key(absl::StrCat(options_.prefix, "nodes/", self_.node_id()));
    put.set_value(self_.SerializeAsString());
    previous = lease_;
  }
  put.set_lease(lease);
  DX_RETURN_IF_ERROR(client_->PutNow(put).status());
  // The entry moved to the new lease; the old one has nothing left.
  if (previous != 0 && previous != lease) (void)client_->RevokeLease(previous);
  absl::MutexLock lock(&mu_);
  lease_ = lease;
  last_ok_ = clock_->Now();
  last_error_ = absl::OkStatus();
  return absl::OkStatus();
}

void Membership::Loop() {
  for (;;) {
    int64_t lease;
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop),
                               options_.keepalive_every)) {
        return;
      }
      lease = lease_;
    }
    absl::Status s = client_->KeepAlive(lease);
    // An expired lease (etcd was away longer than its TTL): register again.
    if (absl::IsNotFound(s)) s = Register();
    absl::MutexLock lock(&mu_);
    if (s.ok()) {
      last_ok_ = clock_->Now();
      last_error_ = absl::OkStatus();
    } else {
      last_error_ = s;
    }
  }
}

absl::Status Membership::Health() const {
  absl::MutexLock lock(&mu_);
  const absl::Duration silent = clock_->Now() - last_ok_;
  if (silent <= options_.max_staleness) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "the cluster's shared state (etcd) has not answered for ",
      absl::FormatDuration(absl::Trunc(silent, absl::Seconds(1))),
      last_error_.ok() ? "" : absl::StrCat(" (", last_error_.message(), ")")));
}

absl::StatusOr<std::vector<v1::ClusterNode>> Membership::Members() const {
  etcdserverpb::RangeRequest r;
  const std::string prefix = absl::StrCat(options_.prefix, "nodes/");
  r.set_key(prefix);
  r.set_range_end(etcd::PrefixEnd(prefix));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  std::vector<v1::ClusterNode> out;
  for (const auto& kv : got.kvs()) {
    v1::ClusterNode n;
    if (n.ParseFromString(kv.value())) out.push_back(std::move(n));
  }
  return out;
}

}  // namespace dx::cluster
