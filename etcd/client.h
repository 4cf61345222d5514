// Client: a small etcd v3 client on gRPC, generated from etcd's own protos
// (etcdserverpb): KV, Txn, Lease and Watch (etcd/watcher.h).
//
// Every member of the cluster is an endpoint. A call goes to the member
// that last answered and, when that member is unreachable (UNAVAILABLE, or
// no answer within the attempt's deadline), to the next, until each was
// tried once. A call whose outcome is unknown may so be applied twice:
// callers make their transactions idempotent (compare what they wrote).
// Keepalive pings find a frozen member within about seven seconds, calls
// within their attempt's deadline. TLS to
// etcd is optional. Nothing of dxgate is inside this library. Thread-safe.
#ifndef DX_ETCD_CLIENT_H_
#define DX_ETCD_CLIENT_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace dx::etcd {

class Client {
 public:
  struct Options {
    // host:port of each member.
    std::vector<std::string> endpoints;
    // TLS: the CA that issued the members' certificates; with a client
    // certificate and key when etcd requires them. Empty: plaintext.
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    // Deadline of one attempt on one member.
    absl::Duration attempt_timeout = absl::Seconds(2);
  };

  static absl::StatusOr<std::unique_ptr<Client>> Create(Options options);
  ~Client();

  // Every call blocks its caller's thread. (An asynchronous variant on
  // gRPC's callback API was removed: nothing used it, and gRPC 1.51's shared
  // callback queue freed itself twice under ASan when a client went away
  // just after a callback, a race we cannot fix from outside.)
  absl::StatusOr<etcdserverpb::TxnResponse> TxnNow(
      const etcdserverpb::TxnRequest& request);
  absl::StatusOr<etcdserverpb::RangeResponse> RangeNow(
      const etcdserverpb::RangeRequest& request);
  absl::StatusOr<etcdserverpb::PutResponse> PutNow(
      const etcdserverpb::PutRequest& request);
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRangeNow(
      const etcdserverpb::DeleteRangeRequest& request);
  absl::StatusOr<int64_t> GrantLease(absl::Duration ttl);
  // One keep-alive; NOT_FOUND when the lease has expired.
  absl::Status KeepAlive(int64_t lease);
  absl::Status RevokeLease(int64_t lease);

  size_t endpoint_count() const { return channels_.size(); }
  const std::vector<std::string>& endpoints() const {
    return options_.endpoints;
  }
  // The channel to try first, and the index it has; Failed(i) moves on.
  std::shared_ptr<grpc::Channel> Preferred(size_t* index) const;
  void Failed(size_t index);
  std::shared_ptr<grpc::Channel> ChannelAt(size_t index) const {
    return channels_[index % channels_.size()];
  }
  absl::Duration attempt_timeout() const { return options_.attempt_timeout; }

 private:
  explicit Client(Options options);
  template <typename Resp, typename Call>
  absl::StatusOr<Resp> Blocking(Call call);

  const Options options_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::atomic<size_t> preferred_{0};
};

// The end of the range of keys that start with `prefix` (for RangeRequest
// range_end): the prefix with its last byte incremented.
std::string PrefixEnd(absl::string_view prefix);

// Whether a gRPC status means "try another member".
bool IsRetriable(const grpc::Status& status);

// grpc::Status to absl::Status, the message prefixed by `what`.
absl::Status FromGrpc(const grpc::Status& status, absl::string_view what);

}  // namespace dx::etcd

#endif  // DX_ETCD_CLIENT_H_
