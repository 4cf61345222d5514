// dxctl health: the standard gRPC health check (grpc.health.v1.Health) of
// one node for dx.v1.Exchange, as a load balancer's probe: prints SERVING,
// NOT_SERVING or why the node could not be asked, and exits 0 only when it
// serves. Any certificate the gateway trusts may ask (an operator's, or
// one made for the load balancer).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <iostream>

#include "absl/synchronization/notification.h"
#include "cli/command.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/remote.h"

namespace dx::cli {
namespace {

constexpr char kUsage[] =
    "usage: dxctl health --gateway HOST:PORT (--pki DIR --person NAME | "
    "--ca F --cert F --key F) [--service NAME] [--timeout-ms N]\n"
    "  the gRPC health check of one node (service dx.v1.Exchange unless "
    "--service); exit 0 when SERVING\n";

// grpc.health.v1.HealthCheckRequest{service}: field 1, length-delimited.
std::string HealthRequest(const std::string& service) {
  std::string out = "\x0a";
  out.push_back(static_cast<char>(service.size()));
  return out + service;
}

// grpc.health.v1.HealthCheckResponse.status (field 1, varint); -1 if absent.
int HealthStatus(const std::string& bytes) {
  if (bytes.size() >= 2 && bytes[0] == '\x08') return bytes[1];
  return bytes.empty() ? 0 : -1;  // proto3: an empty message is UNKNOWN (0)
}

}  // namespace

int RunHealth(const std::vector<std::string>& args) {
  auto f = Flags::Parse(args,
                        {"gateway", "pki", "person", "ca", "cert", "key",
                         "service", "timeout-ms"},
                        {"help"});
  if (!f.ok() || f->Has("help") || !f->Has("gateway")) {
    if (!f.ok()) std::cerr << "dxctl health: " << f.status().message() << "\n";
    std::cout << kUsage;
    return f.ok() && f->Has("help") ? kExitOk : kExitUsage;
  }
  const std::string service = f->Get("service", "dx.v1.Exchange");
  auto timeout = f->GetUint("timeout-ms", 2000);
  if (!timeout.ok()) return Fail("health", timeout.status());
  if (service.size() > 127) {
    return Fail("health", absl::InvalidArgumentError(
                              "--service: at most 127 characters"));
  }
  auto remote = RemoteNode::Open(*f);
  if (!remote.ok()) return Fail("health", remote.status());

  grpc::GenericStub stub(remote->channel());
  auto ctx = RemoteNode::NewContext(absl::Milliseconds(*timeout));
  const std::string request = HealthRequest(service);
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1), resp;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(ctx.get(), "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                 &req, &resp, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) {
    std::cout << f->Get("gateway") << "  UNREACHABLE  "
              << status.error_message() << "\n";
    return kExitFailed;
  }
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (resp.Dump(&slices).ok()) {
    for (const auto& s : slices) {
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  const int serving = HealthStatus(bytes);
  std::cout << f->Get("gateway") << "  "
            << (serving == 1   ? "SERVING"
                : serving == 2 ? "NOT_SERVING"
                               : "UNKNOWN")
            << "\n";
  return serving == 1 ? kExitOk : kExitFailed;
}

}  // namespace dx::cli
