#include "gateway/grpc_front_end.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/rocksdb_audit_log.h"
#include "authz/call_gate.h"
#include "certs/crypto.h"
#include "common/data_dir.h"
#include "common/files.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/status_macros.h"
#include "gateway/exchange_service.h"
#include "gateway/node_components.h"
#include "gateway/prometheus_subscription_metrics.h"
#include "gateway/readiness.h"
#include "gateway/refusal.h"
#include "gateway/subscription_service.h"
#include "metrics/grpc_server_metrics.h"
#include "metrics/metrics.h"
#include "policy/policy_sync.h"
#include "services/audit_service.h"
#include "services/node_service.h"
#include "services/policy_admin_service.h"
#include "services/registry_admin_service.h"

namespace dx::gateway {

GrpcFrontEnd::GrpcFrontEnd(NodeComponents* parts) : parts_(parts) {}

absl::StatusOr<std::unique_ptr<GrpcFrontEnd>> GrpcFrontEnd::Start(
    NodeComponents* parts) {
  std::unique_ptr<GrpcFrontEnd> f(new GrpcFrontEnd(parts));
  DX_RETURN_IF_ERROR(f->BuildServices());
  DX_RETURN_IF_ERROR(f->Listen());
  f->StartSubscriptionExpiry();
  return f;
}

absl::Status GrpcFrontEnd::BuildServices() {
  NodeComponents& c = *parts_;
  const v1::GatewayConfig& config = c.config;
  // Export bundles carry the log key's issuers up to the root.
  std::vector<std::string> chain_der;
  for (const std::string& file :
       {config.trust().intermediates_file(), config.trust().ca_file()}) {
    if (file.empty()) continue;
    DX_ASSIGN_OR_RETURN(std::string pem, ReadFile(file));
    DX_ASSIGN_OR_RETURN(auto ders, certs::PemBundleToDer(pem));
    chain_der.insert(chain_der.end(), ders.begin(), ders.end());
  }
  services::AuditService::Deps audit;
  audit.db = c.state_db.get();
  audit.log = c.audit_log.get();
  audit.gate = c.gate.get();
  audit.subject_hmac_key = c.subject_key;
  audit.chain_der = chain_der;
  audit.retention = absl::Hours(24) * config.audit().retention_days();
  audit.clock = c.clock;
  audit.node_id = config.node_id();
  audit.pruner = c.pruner.get();
  audit.log_signer = c.log_signer;
  if (c.trail != nullptr) audit.checkpoints = c.trail->checkpoints();
  // The lineage from the registry in force (the policy snapshot's, as
  // every decision sees it); none before a policy is loaded.
  audit.lineage = [&c](const std::string& code) {
    auto snapshot = c.sync != nullptr ? c.sync->Current() : nullptr;
    if (snapshot == nullptr || snapshot->registry() == nullptr) {
      return std::vector<std::string>{code};
    }
    return snapshot->registry()->successions().Lineage(code);
  };
  audit_ = std::make_unique<services::AuditService>(std::move(audit));
  policy_ = std::make_unique<services::PolicyAdminService>(c.policy_admin.get(),
                                                           c.gate.get());
  registry_ = std::make_unique<services::RegistryAdminService>(
      c.registry_admin.get(), c.gate.get());
  node_ = std::make_unique<services::NodeService>(
      [&c] { return c.Status(); },
      [&c](const std::string& actor, const std::string& out_dir) {
        return c.Backup(actor, out_dir);
      },
      c.gate.get());
  // Subscriptions share the exchange's checks (its deps) and keep their
  // state in the node's state database.
  SubscriptionService::Options sub;
  const v1::SubscriptionConfig& sc = config.subscriptions();
  if (sc.max_subscriptions() != 0)
    sub.max_subscriptions = sc.max_subscriptions();
  if (sc.heartbeat_seconds() != 0) {
    sub.heartbeat = absl::Seconds(sc.heartbeat_seconds());
  }
  if (sc.max_unacked_batches() != 0) {
    sub.max_unacked_batches =
        std::min<uint32_t>(sc.max_unacked_batches(), 10000);
  }
  if (sc.policy_recheck_seconds() != 0) {
    sub.policy_recheck = absl::Seconds(sc.policy_recheck_seconds());
  }
  if (sc.max_events_per_batch() != 0) {
    sub.max_events_per_batch =
        std::min<uint32_t>(sc.max_events_per_batch(), 10000);
  }
  if (sc.idle_expiry_days() != 0) {
    sub.idle_expiry = absl::Hours(24) * sc.idle_expiry_days();
  }
  // Events count against the daily records quotas, in the exchanges'
  // counters (memory, or etcd in a cluster).
  sub.quotas = c.backends.quotas.get();
  if (c.metrics != nullptr) {
    subscription_metrics_ =
        std::make_unique<PrometheusSubscriptionMetrics>(&c.metrics->registry());
    sub.observer = subscription_metrics_.get();
  }
  subscriptions_ = std::make_unique<SubscriptionService>(
      c.exchange->deps(),
      std::make_unique<RocksDbSubscriptionStates>(c.state_db.get()), sub);
  return absl::OkStatus();
}

void GrpcFrontEnd::StartSubscriptionExpiry() {
  SubscriptionService* service = subscriptions_.get();
  subscription_duties_ = std::make_unique<BackgroundTasks>();
  subscription_duties_->Add(
      {"dx-sub-expiry", absl::Hours(1),
       [service] {
         const SubscriptionService::ExpirySweep sweep = service->ExpireIdle();
         if (sweep.expired != 0 || sweep.stamped != 0) {
           LogEvent("dxgate", "info",
                    absl::StrCat("subscriptions' idle expiry: ", sweep.expired,
                                 " expired (audited), ", sweep.stamped,
                                 " from an older version now dated, ",
                                 sweep.served, " served now"));
         }
         if (!sweep.status.ok()) {
           LogEvent("dxgate", "warning",
                    absl::StrCat("subscriptions' idle expiry stopped: ",
                                 sweep.status.message(),
                                 "; it runs again within the hour"));
         }
       },
       /*run_at_start=*/true});
}

absl::Status GrpcFrontEnd::Listen() {
  NodeComponents& c = *parts_;
  const v1::GatewayConfig& config = c.config;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // Served from checked copies that gRPC re-reads every second, so that a
  // rotated certificate takes effect without a restart (node_reloads.cc).
  const std::string live = DataDir(config.data_dir()).tls();
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          live + "/key.pem", live + "/cert.pem", live + "/ca.pem",
          /*refresh_interval_sec=*/1);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  tls.set_cert_request_type(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address(),
                           grpc::experimental::TlsServerCredentials(tls),
                           &port_);
  builder.RegisterService(c.exchange.get());
  builder.RegisterService(audit_.get());
  builder.RegisterService(policy_.get());
  builder.RegisterService(registry_.get());
  builder.RegisterService(node_.get());
  builder.RegisterService(subscriptions_.get());
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  if (c.metrics != nullptr) {
    // First, so that calls the gate refuses are counted too.
    interceptors.push_back(metrics::NewGrpcServerMetrics(
        &c.metrics->registry(),
        {"dx.v1.Exchange", "dx.v1.Audit", "dx.v1.PolicyAdmin",
         "dx.v1.RegistryAdmin", "dx.v1.Node", "dx.v1.Subscriptions"}));
  }
  interceptors.push_back(c.gate->NewInterceptorFactory());
  // Health calls read the readiness of that very moment.
  interceptors.push_back(c.readiness->NewHealthInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // Above max_request_bytes by kRequestSizeHeadroom: a request a little
  // over reaches the admission, which refuses it with an ErrorDetail and an
  // audit record (REASON_REQUEST_TOO_LARGE). The administrative services
  // share this limit.
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<uint64_t>(
      uint64_t{config.max_request_bytes()} + kRequestSizeHeadroom,
      std::numeric_limits<int>::max())));
  builder.SetMaxSendMessageSize(static_cast<int>(config.max_response_bytes()));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 256);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen_address(),
                     " (address in use, or bad TLS key/certificate)"));
  }
  // From here on, health says what the gate says (NOT_SERVING while the
  // policy head is not in force, for one).
  c.readiness->SetPublisher([this](bool serving) { SetServing(serving); });
  if (!config.port_file().empty()) {
    DX_RETURN_IF_ERROR(
        WriteFileAtomically(config.port_file(), absl::StrCat(port_, "\n")));
  }
  LogEvent("dxgate", "info",
           absl::StrCat("node ", config.node_id(), " serving on port ", port_,
                        "; audit log at ", DataDir(config.data_dir()).state(),
                        ", next record ", c.audit_log->next_sequence()));
  return absl::OkStatus();
}

void GrpcFrontEnd::SetServing(bool serving) {
  auto* health = server_->GetHealthCheckService();
  health->SetServingStatus(serving);
  health->SetServingStatus("dx.v1.Exchange", serving);
}

std::shared_ptr<grpc::Channel> GrpcFrontEnd::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

void GrpcFrontEnd::Drain(absl::Duration grace) {
  if (server_ == nullptr) return;
  parts_->exchange->StopAccepting();
  subscriptions_->StopAccepting();  // they live for hours: end them now
  // A sweep under way stops at its next subscription (the service no
  // longer accepts); none starts after.
  if (subscription_duties_ != nullptr) subscription_duties_->Stop();
  parts_->readiness->Stop();
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoSeconds(grace));
}

GrpcFrontEnd::~GrpcFrontEnd() {
  if (server_ != nullptr) parts_->readiness->SetPublisher(nullptr);
  server_.reset();
  subscription_duties_.reset();  // before the service it sweeps
  subscriptions_.reset();
  node_.reset();
  registry_.reset();
  policy_.reset();
  audit_.reset();
}

}  // namespace dx::gateway
