#include "etcd/watcher.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"

namespace dx::etcd {

Watcher::Watcher(Client* client, std::string key, std::string range_end,
                 int64_t start_revision, Callbacks callbacks)
    : client_(client),
      key_(std::move(key)),
      range_end_(std::move(range_end)),
      callbacks_(std::move(callbacks)),
      next_revision_(start_revision) {
  thread_ = std::thread([this] { Loop(); });
}

Watcher::~Watcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (ctx_ != nullptr) ctx_->TryCancel();
  }
  thread_.join();
}

bool Watcher::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void Watcher::Loop() {
  while (!stopping()) {
    size_t index;
    auto channel = client_->Preferred(&index);
    grpc::ClientContext ctx;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      ctx_ = &ctx;
    }
    auto stub = etcdserverpb::Watch::NewStub(channel);
    auto stream = stub->Watch(&ctx);
    etcdserverpb::WatchRequest req;
    etcdserverpb::WatchCreateRequest* create = req.mutable_create_request();
    create->set_key(key_);
    create->set_range_end(range_end_);
    create->set_start_revision(next_revision_);
    create->set_progress_notify(true);
    bool compacted = false;
    if (stream->Write(req)) {
      etcdserverpb::WatchResponse resp;
      while (stream->Read(&resp)) {
        if (resp.compact_revision() > 0) {
          compacted = true;
          if (callbacks_.on_compacted) {
            callbacks_.on_compacted(resp.compact_revision());
          }
          break;
        }
        if (resp.canceled()) break;  // opened again below
        if (resp.events_size() > 0) {
          next_revision_ =
              resp.events(resp.events_size() - 1).kv().mod_revision() + 1;
          if (callbacks_.on_events) callbacks_.on_events(resp);
        } else if (!resp.created()) {
          // A progress notice: etcd sends them to watchers that are caught
          // up, so nothing after its revision exists. (The creation answer
          // says nothing of the kind: older events may still follow it.)
          if (next_revision_ <= resp.header().revision()) {
            next_revision_ = resp.header().revision() + 1;
          }
          if (callbacks_.on_progress) {
            callbacks_.on_progress(resp.header().revision());
          }
        }
      }
    }
    ctx.TryCancel();
    grpc::Status s = stream->Finish();
    {
      absl::MutexLock lock(&mu_);
      ctx_ = nullptr;
      if (stopping_) return;
    }
    if (compacted) return;
    client_->Failed(index);
    if (callbacks_.on_error) {
      callbacks_.on_error(absl::UnavailableError(
          absl::StrCat("etcd watch on ", client_->endpoints()[index],
                       " broke (", s.error_message(), "); opening it again")));
    }
    absl::MutexLock lock(&mu_);
    auto stop = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stop), absl::Milliseconds(200));
  }
}

}  // namespace dx::etcd
