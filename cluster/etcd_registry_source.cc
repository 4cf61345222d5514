#include "cluster/etcd_registry_source.h"

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "certs/crypto.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace dx::cluster {
namespace {

std::string Rev(uint64_t revision) {
  return absl::StrFormat("%020u", revision);
}

}  // namespace

std::string EtcdRegistrySource::Key(const std::string& suffix) const {
  return absl::StrCat(prefix_, "registry/", suffix);
}

absl::StatusOr<uint64_t> EtcdRegistrySource::ReadHead(
    int64_t* etcd_revision) const {
  etcdserverpb::RangeRequest r;
  r.set_key(Key("head"));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  if (etcd_revision != nullptr) *etcd_revision = got.header().revision();
  uint64_t head = 0;
  if (got.kvs_size() > 0 && !absl::SimpleAtoi(got.kvs(0).value(), &head)) {
    return absl::DataLossError("registry store: the head does not parse");
  }
  return head;
}

absl::StatusOr<v1::RegistryRevision> EtcdRegistrySource::ReadRevision(
    uint64_t revision) const {
  etcdserverpb::RangeRequest r;
  r.set_key(Key("rev/" + Rev(revision)));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  v1::RegistryRevision out;
  if (got.kvs_size() == 0 || !out.ParseFromString(got.kvs(0).value())) {
    return absl::DataLossError(
        absl::StrCat("registry store: revision ", revision, " is missing"));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<EtcdRegistrySource>> EtcdRegistrySource::Open(
    etcd::Client* client, std::string prefix, const std::string& seed_file) {
  std::unique_ptr<EtcdRegistrySource> s(
      new EtcdRegistrySource(client, std::move(prefix)));
  DX_ASSIGN_OR_RETURN(uint64_t head, s->ReadHead(nullptr));
  if (head == 0) {
    // An empty store: the registry file becomes revision 1, validated
    // first. Another node may seed it at the same moment: one commit wins.
    DX_ASSIGN_OR_RETURN(std::string yaml, ReadFile(seed_file));
    DX_RETURN_IF_ERROR(registry::Registry::FromYaml(yaml, seed_file).status());
    v1::RegistryRevision meta;
    meta.set_author("seed");
    meta.set_time_unix_micros(absl::ToUnixMicros(absl::Now()));
    meta.set_comment(absl::StrCat("the registry_file ", seed_file,
                                  ", at the cluster's first start"));
    auto seeded = s->Commit(yaml, meta, 0);
    if (!seeded.ok() && !absl::IsAborted(seeded.status())) {
      return seeded.status();
    }
  }
  int64_t etcd_revision = 0;
  DX_ASSIGN_OR_RETURN(head, s->ReadHead(&etcd_revision));
  DX_ASSIGN_OR_RETURN(v1::RegistryRevision r, s->ReadRevision(head));
  DX_ASSIGN_OR_RETURN(
      auto registry,
      registry::Registry::FromYaml(
          r.yaml(), absl::StrCat("registry revision ", head), head));
  {
    absl::MutexLock lock(&s->mu_);
    s->current_ = std::move(registry);
  }
  etcd::Watcher::Callbacks cb;
  EtcdRegistrySource* self = s.get();
  cb.on_events = [self](const etcdserverpb::WatchResponse& resp) {
    for (const mvccpb::Event& e : resp.events()) {
      v1::RegistryRevision rev;
      if (e.type() == mvccpb::Event::PUT &&
          rev.ParseFromString(e.kv().value())) {
        self->OnRevision(rev);
      }
    }
  };
  s->watch_ = std::make_unique<etcd::Watcher>(client, s->Key("rev/"),
                                              etcd::PrefixEnd(s->Key("rev/")),
                                              etcd_revision + 1, cb);
  return s;
}

EtcdRegistrySource::~EtcdRegistrySource() { watch_.reset(); }

void EtcdRegistrySource::OnRevision(const v1::RegistryRevision& r) {
  auto next = registry::Registry::FromYaml(
      r.yaml(), absl::StrCat("registry revision ", r.revision()), r.revision());
  if (!next.ok()) {
    LogEvent("dxgate", "error",
             absl::StrCat("registry revision ", r.revision(),
                          " is not installed: ", next.status().message()));
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (current_ && current_->revision() >= r.revision()) return;
    current_ = *next;
  }
  // Only the watch's thread notifies, so listeners hear revisions in order.
  listeners_.Notify(*next);
}

std::shared_ptr<const registry::Registry> EtcdRegistrySource::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

std::unique_ptr<WatchHandle> EtcdRegistrySource::Watch(Listener listener) {
  return listeners_.Add(std::move(listener));
}

std::string EtcdRegistrySource::Describe() const { return "etcd"; }

absl::StatusOr<std::string> EtcdRegistrySource::ReloadableFile() const {
  return absl::FailedPreconditionError(
      "this node's registry lives in etcd: change it with dxctl registry "
      "apply");
}

absl::Status EtcdRegistrySource::Reload(
    std::shared_ptr<const registry::Registry>) {
  return ReloadableFile().status();
}

absl::StatusOr<uint64_t> EtcdRegistrySource::Commit(
    const std::string& yaml, v1::RegistryRevision meta,
    uint64_t expected_revision) {
  const uint64_t rev = expected_revision + 1;
  meta.set_revision(rev);
  meta.set_yaml(yaml);
  meta.set_yaml_sha256(certs::Sha256(yaml));
  meta.set_attempt(certs::RandomBytes(16));
  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* c = txn.add_compare();
  c->set_key(Key("head"));
  if (expected_revision == 0) {
    c->set_target(etcdserverpb::Compare::VERSION);
    c->set_version(0);
  } else {
    c->set_target(etcdserverpb::Compare::VALUE);
    c->set_value(absl::StrCat(expected_revision));
  }
  c->set_result(etcdserverpb::Compare::EQUAL);
  etcdserverpb::PutRequest* head = txn.add_success()->mutable_request_put();
  head->set_key(Key("head"));
  head->set_value(absl::StrCat(rev));
  etcdserverpb::PutRequest* body = txn.add_success()->mutable_request_put();
  body->set_key(Key("rev/" + Rev(rev)));
  body->set_value(meta.SerializeAsString());
  DX_ASSIGN_OR_RETURN(etcdserverpb::TxnResponse done, client_->TxnNow(txn));
  if (done.succeeded()) return rev;
  // Our own attempt, retried after its answer was lost?
  auto theirs = ReadRevision(rev);
  if (theirs.ok() && theirs->attempt() == meta.attempt()) return rev;
  DX_ASSIGN_OR_RETURN(uint64_t now, ReadHead(nullptr));
  return absl::AbortedError(
      absl::StrCat("the registry changed meanwhile (now revision ", now,
                   "); review the change again and retry"));
}

absl::StatusOr<std::vector<v1::RegistryRevision>> EtcdRegistrySource::History(
    size_t limit) const {
  etcdserverpb::RangeRequest r;
  r.set_key(Key("rev/"));
  r.set_range_end(etcd::PrefixEnd(Key("rev/")));
  r.set_sort_order(etcdserverpb::RangeRequest::DESCEND);
  r.set_sort_target(etcdserverpb::RangeRequest::KEY);
  if (limit != 0) r.set_limit(static_cast<int64_t>(limit));
  DX_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse got, client_->RangeNow(r));
  std::vector<v1::RegistryRevision> out;
  for (const mvccpb::KeyValue& kv : got.kvs()) {
    v1::RegistryRevision rev;
    if (!rev.ParseFromString(kv.value())) {
      return absl::DataLossError("registry store: a revision does not parse");
    }
    rev.clear_yaml();
    rev.clear_attempt();
    out.push_back(std::move(rev));
  }
  return out;
}

}  // namespace dx::cluster
