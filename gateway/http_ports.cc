#include "gateway/http_ports.h"

#include "absl/strings/str_cat.h"
#include "audit/rocksdb_audit_log.h"
#include "authz/call_gate.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "gateway/admin_recorder.h"
#include "gateway/grpc_front_end.h"
#include "gateway/node_components.h"
#include "gateway/node_metrics.h"
#include "gateway/node_reloads.h"
#include "gateway/node_status.h"
#include "gateway/readiness.h"
#include "gateway/witness_submitter.h"
#include "metrics/metrics.h"
#include "witness/rocksdb_store.h"
#include "witness/witness.h"

namespace dx::gateway {

absl::StatusOr<std::unique_ptr<metrics::HttpEndpoint>> StartMetricsPort(
    NodeComponents* parts) {
  NodeComponents& c = *parts;
  const v1::GatewayConfig& config = c.config;
  if (c.metrics == nullptr) return nullptr;
  NodeMetricsSources sources;
  sources.node_id = config.node_id();
  sources.clock = c.clock;
  sources.not_serving = [&c] { return c.readiness->Why(); };
  sources.expiries = [&c] { return c.Expiries(); };
  sources.exchange = c.exchange.get();
  sources.replay = c.backends.replay.get();
  sources.audit_log = c.audit_log.get();
  sources.state_db = c.state_db.get();
  sources.data_dir = config.data_dir();
  sources.min_free_bytes = uint64_t{config.audit().min_free_mb()} << 20;
  sources.policy = c.sync.get();
  c.metrics->AddScrape(NodeMetrics(std::move(sources)));
  DX_ASSIGN_OR_RETURN(auto endpoint,
                      metrics::HttpEndpoint::Start(
                          {config.metrics().listen_address(),
                           [m = c.metrics.get()] { return m->Exposition(); },
                           [&c] { return c.readiness->Why(); }}));
  if (!config.metrics().port_file().empty()) {
    DX_RETURN_IF_ERROR(WriteFileAtomically(
        config.metrics().port_file(), absl::StrCat(endpoint->port(), "\n")));
  }
  LogEvent("dxgate", "info",
           absl::StrCat("metrics on http://", config.metrics().listen_address(),
                        " (port ", endpoint->port(), "): /metrics, /healthz"));
  return endpoint;
}

absl::StatusOr<std::unique_ptr<WitnessPort>> StartWitnessPort(
    NodeComponents* parts) {
  NodeComponents& c = *parts;
  const v1::WitnessConfig& wc = c.config.witness();
  // The submitter's peers are checked here too, so that a bad vkey stops
  // the start (the housekeeping that runs the submitter cannot).
  DX_RETURN_IF_ERROR(WitnessSubmitter::CheckPeers(wc));
  DX_ASSIGN_OR_RETURN(
      auto witness,
      BuildWitness(
          wc, std::make_unique<witness::RocksDbWitnessStore>(c.state_db.get()),
          c.clock));
  if (witness == nullptr) return nullptr;
  WitnessPort::Options o;
  o.config = &wc;
  o.cert_file = c.config.tls().cert_file();
  o.key_file = c.config.tls().key_file();
  const std::string vkey = witness->cosigner().VerifierKeyString();
  o.witness = std::move(witness);
  o.audit_log = c.audit_log.get();
  o.metrics = c.metrics.get();
  DX_ASSIGN_OR_RETURN(auto port, WitnessPort::Start(std::move(o)));
  if (!wc.port_file().empty()) {
    DX_RETURN_IF_ERROR(
        WriteFileAtomically(wc.port_file(), absl::StrCat(port->port(), "\n")));
  }
  LogEvent("dxgate", "info",
           absl::StrCat("witness on https://", wc.listen_address(), " (port ",
                        port->port(), "): POST ", wc.path_prefix(),
                        "/add-checkpoint, ", wc.logs_size(),
                        " log(s); its verifier key: ", vkey));
  return port;
}

absl::StatusOr<std::unique_ptr<console::ConsoleServer>> StartConsolePort(
    NodeComponents* parts, GrpcFrontEnd* grpc) {
  NodeComponents& c = *parts;
  const v1::ConsoleConfig& cc = c.config.console();
  if (cc.listen_address().empty()) return nullptr;
  console::ConsoleServer::Options o;
  o.listen_address = cc.listen_address();
  o.cert_file = c.config.tls().cert_file();
  o.key_file = c.config.tls().key_file();
  o.public_url = cc.public_url();
  o.session_idle = absl::Seconds(cc.session_idle_seconds());
  o.session_max = absl::Seconds(cc.session_max_seconds());
  o.trust = c.trust.get();
  o.channel = grpc->InProcessChannel();
  o.recorder = c.recorder.get();
  o.clock = c.clock;
  DX_ASSIGN_OR_RETURN(auto console,
                      console::ConsoleServer::Start(std::move(o)));
  if (!cc.port_file().empty()) {
    DX_RETURN_IF_ERROR(WriteFileAtomically(
        cc.port_file(), absl::StrCat(console->port(), "\n")));
  }
  c.gate->SetConsoleSessions(
      [sessions = &console->sessions()](absl::string_view id) {
        return sessions->CertificateOf(id);
      });
  c.reloads->SetConsole(console.get());
  LogEvent("dxgate", "info",
           absl::StrCat("console on https://", cc.listen_address(), " (port ",
                        console->port(), ")"));
  return console;
}

}  // namespace dx::gateway
