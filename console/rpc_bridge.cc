#include "console/rpc_bridge.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "authz/call_gate.h"
#include "authz/roles.h"
#include "rpc/status.h"

namespace dx::console {
namespace {

namespace pb = google::protobuf;

std::string ErrorJson(grpc::StatusCode code, absl::string_view message) {
  pb::Value v;
  auto* fields = v.mutable_struct_value()->mutable_fields();
  // gRPC's codes are absl's, names included ("PERMISSION_DENIED").
  (*fields)["code"].set_string_value(
      absl::StatusCodeToString(rpc::FromGrpcCode(code)));
  (*fields)["message"].set_string_value(std::string(message));
  std::string out;
  (void)pb::util::MessageToJsonString(v, &out);
  return out;
}

BridgeAnswer Error(grpc::StatusCode code, absl::string_view message) {
  return {HttpStatusOf(static_cast<int>(code)), ErrorJson(code, message)};
}

// Waits for the one operation in flight on a call's private queue.
bool Await(grpc::CompletionQueue* cq) {
  void* tag;
  bool ok = false;
  return cq->Next(&tag, &ok) && ok;
}

}  // namespace

int HttpStatusOf(int grpc_code) {
  switch (rpc::FromGrpcCode(grpc_code)) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 503;
  }
}

bool RpcBridge::Forwards(absl::string_view method) {
  const std::string path = absl::StrCat("/", method);
  if (!authz::Governs(path)) return false;
  return method != "dx.v1.Audit/Prune" && method != "dx.v1.Node/Backup";
}

void RpcBridge::CancelAll() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  for (grpc::ClientContext* ctx : live_) ctx->TryCancel();
}

BridgeAnswer RpcBridge::Call(absl::string_view method,
                             absl::string_view request_json,
                             const std::string& session_id) const {
  if (!Forwards(method)) {
    return Error(grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("the console does not offer ", method));
  }
  const pb::MethodDescriptor* desc =
      pb::DescriptorPool::generated_pool()->FindMethodByName(
          absl::StrReplaceAll(method, {{"/", "."}}));
  if (desc == nullptr || desc->client_streaming()) {
    return Error(grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("no such method: ", method));
  }
  pb::MessageFactory* factory = pb::MessageFactory::generated_factory();
  std::unique_ptr<pb::Message> request(
      factory->GetPrototype(desc->input_type())->New());
  pb::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = false;
  if (auto s = pb::util::JsonStringToMessage(
          pb::StringPiece(request_json.data(), request_json.size()),
          request.get(), parse);
      !s.ok()) {
    return Error(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("the request is not a ", desc->input_type()->full_name(),
                     " in JSON: ", std::string(s.message())));
  }
  std::string wire;
  request->SerializeToString(&wire);

  grpc::ClientContext ctx;
  ctx.AddMetadata(authz::CallGate::kSessionMetadata, session_id);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) {
      return Error(grpc::StatusCode::UNAVAILABLE, "the gateway is stopping");
    }
    live_.insert(&ctx);
  }
  struct Unlist {
    const RpcBridge* bridge;
    grpc::ClientContext* ctx;
    ~Unlist() {
      absl::MutexLock lock(&bridge->mu_);
      bridge->live_.erase(ctx);
    }
  } unlist{this, &ctx};
  grpc::CompletionQueue cq;
  grpc::GenericStub stub(channel_);
  auto call = stub.PrepareCall(&ctx, absl::StrCat("/", method), &cq);
  std::vector<std::string> messages;
  size_t bytes_in = 0;
  grpc::Status status;
  bool truncated = false;
  bool too_big = false;
  call->StartCall(&cq);
  if (Await(&cq)) {
    grpc::Slice slice(wire);
    grpc::ByteBuffer out(&slice, 1);
    call->Write(out, &cq);
    if (Await(&cq)) {
      call->WritesDone(&cq);
      Await(&cq);
    }
    grpc::ByteBuffer in;
    while (true) {
      call->Read(&in, &cq);
      if (!Await(&cq)) break;
      if (truncated || too_big) continue;  // cancelled: drain
      if (messages.size() >= kMaxStreamMessages) {
        truncated = true;
        ctx.TryCancel();
        continue;
      }
      bytes_in += in.Length();
      if (bytes_in > kMaxAnswerBytes) {
        too_big = true;
        messages.clear();
        ctx.TryCancel();
        continue;
      }
      std::vector<grpc::Slice> slices;
      (void)in.Dump(&slices);
      std::string bytes;
      for (const auto& s : slices) {
        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
      messages.push_back(std::move(bytes));
    }
  }
  call->Finish(&status, &cq);
  Await(&cq);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  if (too_big) {
    return Error(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("the answer is larger than ", kMaxAnswerBytes >> 20,
                     " MiB: narrow the search, or use dxctl (`dxctl "
                     "audit export` writes any range to a file)"));
  }
  if (!status.ok() && !truncated) {
    return Error(status.error_code(), status.error_message());
  }

  pb::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  std::vector<std::string> json;
  for (const std::string& bytes : messages) {
    std::unique_ptr<pb::Message> m(
        factory->GetPrototype(desc->output_type())->New());
    if (!m->ParseFromString(bytes)) {
      return Error(grpc::StatusCode::INTERNAL,
                   "the service's answer did not parse");
    }
    std::string j;
    (void)pb::util::MessageToJsonString(*m, &j, print);
    json.push_back(std::move(j));
  }
  if (!desc->server_streaming()) {
    if (json.size() != 1) {
      return Error(grpc::StatusCode::INTERNAL, "the service gave no answer");
    }
    return {200, std::move(json[0])};
  }
  std::string out = "{\"messages\":[";
  for (size_t i = 0; i < json.size(); ++i) {
    if (i > 0) out += ",";
    out += json[i];
  }
  absl::StrAppend(&out, "],\"truncated\":", truncated ? "true" : "false", "}");
  return {200, std::move(out)};
}

}  // namespace dx::console
