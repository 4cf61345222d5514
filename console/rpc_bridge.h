// RpcBridge: how the console's pages reach dxgate's administrative
// services. A page posts JSON for a method ("dx.v1.Audit/Query"); the
// bridge turns it into the method's request message (protobuf's JSON
// mapping), calls the gateway's own gRPC server over its in-process
// channel with the person's session id in metadata, and turns the answer
// (or, for a server stream, each message) back into JSON. So every rule
// (who may call what, what is recorded, what is refused) is the gRPC
// service's, decided by the same code (authz::CallGate): the console has
// no second path to any of it. Only methods of the governed services are
// forwarded, and none that act on the server's files (Prune, Backup).
#ifndef DX_CONSOLE_RPC_BRIDGE_H_
#define DX_CONSOLE_RPC_BRIDGE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace dx::console {

struct BridgeAnswer {
  int http_status = 200;
  // The answer as JSON: the message (unary), {"messages": [...]} (a server
  // stream), or {"code": "PERMISSION_DENIED", "message": "..."}.
  std::string json;
};

class RpcBridge {
 public:
  // Messages of a server stream passed back at most (a page of the audit
  // log is at most 10,000 records).
  static constexpr size_t kMaxStreamMessages = 10001;
  // And at most this many bytes in all (an export of a wide range is for
  // `dxctl audit export`, which streams it to a file).
  static constexpr size_t kMaxAnswerBytes = 64 << 20;

  explicit RpcBridge(std::shared_ptr<grpc::Channel> channel)
      : channel_(std::move(channel)) {}

  // `method` as "dx.v1.Audit/Query".
  BridgeAnswer Call(absl::string_view method, absl::string_view request_json,
                    const std::string& session_id) const;

  // Whether `method` may be forwarded at all.
  static bool Forwards(absl::string_view method);

  // Cancels the calls under way and refuses new ones (UNAVAILABLE): the
  // gateway is stopping, and a console page must not hold it up.
  void CancelAll();

 private:
  std::shared_ptr<grpc::Channel> channel_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_set<grpc::ClientContext*> live_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// The HTTP status that tells a browser what a gRPC status code means.
int HttpStatusOf(int grpc_code);

}  // namespace dx::console

#endif  // DX_CONSOLE_RPC_BRIDGE_H_
