#include "gateway/server.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "authz/call_gate.h"
#include "certs/crypto.h"
#include "common/bytes.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "console/console_server.h"
#include "gateway/admin_recorder.h"
#include "gateway/config_reloader.h"
#include "gateway/grpc_front_end.h"
#include "gateway/housekeeping.h"
#include "gateway/http_ports.h"
#include "gateway/node_reloads.h"
#include "gateway/witness_port.h"
#include "metrics/http_endpoint.h"

namespace dx::gateway {
namespace {

void Log(const std::string& line) { LogEvent("dxgate", "info", line); }

// "path sha256=..." for each file, so the log shows exactly what was loaded.
std::string FileDigests(const std::vector<std::string>& paths) {
  std::string out;
  for (const auto& p : paths) {
    auto contents = ReadFile(p);
    absl::StrAppend(
        &out, out.empty() ? "" : "; ", p, " sha256=",
        contents.ok() ? HexEncode(certs::Sha256(*contents)) : "unreadable");
  }
  return out;
}

}  // namespace

GatewayServer::GatewayServer(v1::GatewayConfig config, std::string config_path)
    : config_(std::move(config)), config_path_(std::move(config_path)) {}

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Start(
    v1::GatewayConfig config, std::string config_path, Options options) {
  std::unique_ptr<GatewayServer> s(
      new GatewayServer(std::move(config), std::move(config_path)));
  DX_RETURN_IF_ERROR(s->Open(options));
  return s;
}

absl::Status GatewayServer::Open(const Options& options) {
  DX_ASSIGN_OR_RETURN(parts_, NodeComponents::Build(config_, options));
  // The start is an admin record: which configuration, registry, keys and
  // trust anchors this node runs with, so changes show up in the log.
  DX_RETURN_IF_ERROR(RecordStart());
  // The copies of the TLS pair the gRPC port serves with, checked.
  DX_RETURN_IF_ERROR(parts_->reloads->InstallTls().status());
  DX_ASSIGN_OR_RETURN(grpc_, GrpcFrontEnd::Start(parts_.get()));
  DX_ASSIGN_OR_RETURN(metrics_, StartMetricsPort(parts_.get()));
  DX_ASSIGN_OR_RETURN(console_, StartConsolePort(parts_.get(), grpc_.get()));
  DX_ASSIGN_OR_RETURN(witness_, StartWitnessPort(parts_.get()));
  if (parts_->trail != nullptr) {
    // In a cluster: publish this node's tree heads where it is reached,
    // stand for checkpointer.
    if (config_.cluster().advertise_address() != AdvertisedAddress()) {
      parts_->backends.runtime->Advertise(AdvertisedAddress());
    }
    parts_->trail->Start(AdvertisedAddress());
  }
  reloader_ = std::make_unique<ConfigReloader>(parts_->reloads->Reloadables(),
                                               parts_->recorder.get(),
                                               parts_->recorder->node_actor());
  housekeeping_ = std::make_unique<Housekeeping>(parts_.get(), reloader_.get());
  return absl::OkStatus();
}

int GatewayServer::port() const { return grpc_ != nullptr ? grpc_->port() : 0; }

// The address other nodes and clients reach this one at: the configured
// one, with the port actually bound when it said 0.
std::string GatewayServer::AdvertisedAddress() const {
  std::string address = config_.cluster().advertise_address();
  if (absl::EndsWith(address, ":0")) {
    address = absl::StrCat(address.substr(0, address.size() - 1), port());
  }
  return address;
}

absl::Status GatewayServer::RecordStart() {
  const std::string detail = absl::StrCat(
      "config: ", FileDigests({config_path_}),
      "; registry: ", FileDigests({config_.registry_file()}), "; policy_file: ",
      config_.policy_file().empty() ? std::string("none")
                                    : FileDigests({config_.policy_file()}),
      "; trust anchors: ", FileDigests({config_.trust().ca_file()}),
      "; signing certificate sha256=",
      HexEncode(certs::Sha256(parts_->signer->certificate_der())),
      "; log certificate sha256=",
      HexEncode(certs::Sha256(parts_->log_signer->certificate_der())));
  return parts_->recorder->RecordForNode("gateway.start", detail);
}

void GatewayServer::Reload(const std::string& trigger) {
  if (reloader_ != nullptr) reloader_->Reload(trigger);
}

void GatewayServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // 1. Nothing acts in the background on a node going away: the duties
  // stop, and no reload runs from here on (one under way finishes).
  if (housekeeping_ != nullptr) housekeeping_->Stop();
  if (reloader_ != nullptr) reloader_->Stop();
  // 2. No new console requests; those under way finish on the live server.
  if (console_ != nullptr) {
    parts_->reloads->SetConsole(nullptr);
    console_.reset();
    parts_->gate->SetConsoleSessions(nullptr);
  }
  // The witness: its answers under way finish (their audit records are
  // written before the log closes below).
  witness_.reset();
  // 3. The drain.
  if (grpc_ != nullptr) {
    Log(absl::StrCat("draining in-flight calls (up to ",
                     config_.shutdown_grace_seconds(), " s)"));
    grpc_->Drain(absl::Seconds(config_.shutdown_grace_seconds()));
  }
  // 4. A prune under way stops where it can resume.
  housekeeping_.reset();
  reloader_.reset();
  metrics_.reset();               // its scrapes read the components
  grpc_.reset();                  // the services, then the server
  if (parts_ == nullptr) return;  // the start failed before any
  // 5. Refusals counted over the budget are recorded before the log closes.
  parts_->gate->RecordRefusalCounts(/*all=*/true);
  // 6. The components, in the reverse of their order (backends included).
  const uint64_t records = parts_->Close();
  parts_.reset();
  Log(absl::StrCat("stopped cleanly; audit log holds ", records, " records"));
}

GatewayServer::~GatewayServer() { Shutdown(); }

}  // namespace dx::gateway
