#include "gateway/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "audit/admin.h"
#include "audit/audit_reader.h"
#include "audit/pruner.h"
#include "audit/rocksdb_audit_log.h"
#include "audit/state_db.h"
#include "authz/call_gate.h"
#include "certs/crypto.h"
#include "certs/expiry.h"
#include "certs/trust_store.h"
#include "cluster/checkpoint_log.h"
#include "cluster/checkpointer.h"
#include "cluster/tree_head_publisher.h"
#include "common/data_dir.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "console/console_server.h"
#include "etcd/client.h"
#include "gateway/adapter_pool.h"
#include "gateway/backup.h"
#include "gateway/exchange_log.h"
#include "gateway/exchange_service.h"
#include "gateway/node_metrics.h"
#include "gateway/prometheus_exchange_metrics.h"
#include "gateway/readiness.h"
#include "gateway/refusal.h"
#include "gateway/registry_admin.h"
#include "gateway/request_checker.h"
#include "metrics/grpc_server_metrics.h"
#include "metrics/http_endpoint.h"
#include "metrics/metrics.h"
#include "policy/policy_admin.h"
#include "policy/policy_sync.h"
#include "services/audit_service.h"
#include "services/node_service.h"
#include "services/policy_admin_service.h"
#include "services/registry_admin_service.h"

namespace dx::gateway {
namespace {

void Log(const std::string& line) { LogEvent("dxgate", "info", line); }

// The key of the keyed hash of data subject ids: from the config, or a random
// key kept in the data folder (created on first start).
absl::StatusOr<std::string> SubjectKey(const v1::GatewayConfig& config) {
  if (!config.subject_hmac_key_hex().empty()) {
    std::string key = absl::HexStringToBytes(config.subject_hmac_key_hex());
    if (key.size() != 32) {
      return absl::InvalidArgumentError(
          "subject_hmac_key_hex must be 64 hex digits (32 bytes)");
    }
    return key;
  }
  const std::string path = DataDir(config.data_dir()).subject_key();
  auto existing = ReadFile(path);
  if (existing.ok() && existing->size() == 32) return *existing;
  std::string key = certs::RandomBytes(32);
  DX_RETURN_IF_ERROR(WriteFileAtomically(path, key));
  chmod(path.c_str(), 0600);
  return key;
}

// "path sha256=..." for each file, so the log shows exactly what was loaded.
std::string FilesDigest(const std::vector<std::string>& paths) {
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

GatewayServer::GatewayServer(v1::GatewayConfig config, std::string config_path,
                             Options options)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      options_(std::move(options)),
      clock_(options_.clock) {}

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Start(
    v1::GatewayConfig config, std::string config_path, Options options) {
  std::unique_ptr<GatewayServer> s(new GatewayServer(
      std::move(config), std::move(config_path), std::move(options)));
  DX_RETURN_IF_ERROR(s->Open());
  return s;
}

absl::Status GatewayServer::Open() {
  started_ = clock_->Now();
  DX_RETURN_IF_ERROR(OpenKeys());
  DX_RETURN_IF_ERROR(OpenAuditLog());
  DX_RETURN_IF_ERROR(OpenPolicy());
  DX_RETURN_IF_ERROR(BuildServices());
  // The start is an admin record: which configuration, registry, keys and
  // trust anchors this node runs with, so changes show up in the log.
  DX_RETURN_IF_ERROR(RecordStart());
  DX_RETURN_IF_ERROR(Listen());
  DX_RETURN_IF_ERROR(StartMetricsEndpoint());
  DX_RETURN_IF_ERROR(StartConsole());
  StartClusterAudit();
  StartWatching();
  housekeeping_ = std::thread([this] { Housekeeping(); });
  prune_resumer_ = std::thread([this] { ResumePrune(); });
  return absl::OkStatus();
}

// The address other nodes and clients reach this one at: the configured
// one, with the port actually bound when it said 0.
std::string GatewayServer::AdvertisedAddress() const {
  std::string address = config_.cluster().advertise_address();
  if (absl::EndsWith(address, ":0")) {
    address = absl::StrCat(address.substr(0, address.size() - 1), port_);
  }
  return address;
}

void GatewayServer::StartClusterAudit() {
  etcd::Client* etcd = backends_.runtime->etcd();
  if (etcd == nullptr) return;
  const v1::ClusterConfig& c = config_.cluster();
  if (c.advertise_address() != AdvertisedAddress()) {
    backends_.runtime->Advertise(AdvertisedAddress());
  }
  cluster_reader_ = std::make_unique<audit::AuditReader>(state_db_.get());
  publisher_ = cluster::TreeHeadPublisher::Start(
      etcd, cluster_reader_.get(),
      {c.prefix(), config_.node_id(), AdvertisedAddress(),
       absl::Milliseconds(c.tree_head_publish_ms())});
  cluster::Checkpointer::Deps deps;
  deps.client = etcd;
  deps.log = checkpoint_log_.get();
  deps.trust = trust_.get();
  deps.signer = log_signer_;
  deps.clock = clock_;
  deps.record = [this](const std::string& action, const std::string& detail) {
    if (absl::Status s = Record(action, detail); !s.ok()) {
      Log(absl::StrCat("cannot record ", action, ": ", s.message()));
    }
  };
  cluster::Checkpointer::Options options;
  options.node_id = config_.node_id();
  options.every = absl::Milliseconds(c.checkpoint_interval_ms());
  checkpointer_ = cluster::Checkpointer::Start(std::move(deps), options);
}

certs::TrustStore::Options GatewayServer::TrustOptions() const {
  certs::TrustStore::Options trust;
  trust.ca_file = config_.trust().ca_file();
  trust.intermediates_file = config_.trust().intermediates_file();
  trust.crl_files.assign(config_.trust().crl_files().begin(),
                         config_.trust().crl_files().end());
  trust.require_crl = config_.trust().require_crl();
  trust.clock = clock_;
  return trust;
}

absl::Status GatewayServer::OpenKeys() {
  DX_ASSIGN_OR_RETURN(anchors_pem_, ReadFile(config_.trust().ca_file()));
  DX_ASSIGN_OR_RETURN(trust_, certs::TrustStore::Create(TrustOptions()));
  DX_ASSIGN_OR_RETURN(signer_,
                      certs::Signer::FromFiles(config_.signing().key_file(),
                                               config_.signing().cert_file()));
  // Tree heads are signed with the log key, by default the signing key.
  log_signer_ = signer_.get();
  const v1::KeyPair& log_keys = config_.audit().log_signing();
  if (!log_keys.key_file().empty()) {
    DX_ASSIGN_OR_RETURN(
        separate_log_signer_,
        certs::Signer::FromFiles(log_keys.key_file(), log_keys.cert_file()));
    log_signer_ = separate_log_signer_.get();
  }
  return absl::OkStatus();
}

absl::Status GatewayServer::OpenAuditLog() {
  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir(), ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create data_dir ", config_.data_dir(), ": ", ec.message()));
  }
  DX_ASSIGN_OR_RETURN(subject_key_, SubjectKey(config_));
  audit::StateDb::Options db;
  db.path = DataDir(config_.data_dir()).state();
  DX_ASSIGN_OR_RETURN(state_db_, audit::StateDb::Open(db));
  audit::RocksDbAuditLog::Options log;
  log.sync = config_.audit().sync();
  log.tree_head_signer = log_signer_;
  log.node_id = config_.node_id();
  log.tree_head_interval =
      absl::Milliseconds(config_.audit().tree_head_interval_ms());
  log.tree_head_every_records = config_.audit().tree_head_every_records();
  log.min_free_bytes = uint64_t{config_.audit().min_free_mb()} << 20;
  log.completion_threads =
      static_cast<int>(config_.audit().completion_threads());
  log.clock = clock_;
  DX_ASSIGN_OR_RETURN(audit_log_,
                      audit::RocksDbAuditLog::Create(state_db_.get(), log));
  audit::Pruner::Options prune;
  prune.chunk_records = config_.audit().prune_chunk_records();
  prune.pause = absl::Milliseconds(config_.audit().prune_pause_ms());
  pruner_ =
      std::make_unique<audit::Pruner>(state_db_.get(), audit_log_.get(), prune);
  return absl::OkStatus();
}

void GatewayServer::ResumePrune() {
  auto resumed = pruner_->Resume();
  if (!resumed.ok()) {
    Log(absl::StrCat("the interrupted prune is not finished: ",
                     resumed.status().message()));
  } else if (resumed->resumed()) {
    Log(absl::StrCat(
        "finished an interrupted prune: ", resumed->pruned_records(),
        " more records pruned, first kept ", resumed->first_kept_sequence()));
  }
}

absl::Status GatewayServer::Record(const std::string& action,
                                   const std::string& detail) {
  return audit::AppendAndWait(
             audit_log_.get(),
             audit::AdminRecord(absl::StrCat("gateway:", config_.node_id()),
                                action, detail))
      .status();
}

absl::Status GatewayServer::OpenPolicy() {
  {
    audit::AuditReader reader(state_db_.get());
    DX_ASSIGN_OR_RETURN(backends_,
                        options_.make_backends(config_, reader, clock_));
  }
  Log(backends_.description);
  RequestChecker::Options checker;
  checker.clock_skew = absl::Seconds(config_.clock_skew_seconds());
  checker.max_lifetime = absl::Seconds(config_.max_request_lifetime_seconds());
  checker_ = std::make_unique<RequestChecker>(checker, trust_.get(), clock_);
  // The sharing policy follows the store, compiled against the registry
  // (docs/POLICY.md).
  policy::PolicySync::Options sync;
  sync.max_staleness = backends_.policy_max_staleness;
  DX_ASSIGN_OR_RETURN(
      sync_, policy::PolicySync::Start(
                 {backends_.policy_store.get(), backends_.registry.get(),
                  backends_.quotas.get(), clock_},
                 sync));
  start_revision_ = sync_->Current()->revision();
  policy::PolicyAdmin::Deps admin;
  admin.store = backends_.policy_store.get();
  admin.sync = sync_.get();
  admin.clock = clock_;
  admin.record = [log = audit_log_.get()](const std::string& actor,
                                          const std::string& action,
                                          const std::string& detail) {
    return audit::AppendAndWait(log, audit::AdminRecord(actor, action, detail))
        .status();
  };
  DX_ASSIGN_OR_RETURN(
      policy_admin_,
      policy::PolicyAdmin::Create(std::move(admin), config_.policy_file()));
  // Whoever seeded the store (this node, or another that started at the
  // same moment), this node serves nothing before the store's head is in
  // force here (policy/policy_sync.h).
  DX_ASSIGN_OR_RETURN(const uint64_t head, sync_->RequireStoreHead());
  const bool behind = sync_->Current()->revision() < head;
  const absl::Time wait_start = absl::Now();
  const bool in_force = sync_->WaitForRequiredHead(options_.policy_start_wait);
  std::string line = PolicyStartLine(head, in_force);
  if (behind && in_force) {
    // The race this wait closes: worth seeing how often, and how long.
    absl::StrAppend(&line, "; in force here after waiting ",
                    absl::FormatDuration(absl::Trunc(absl::Now() - wait_start,
                                                     absl::Microseconds(100))),
                    " for it");
  }
  Log(line);
  return absl::OkStatus();
}

// What the start did with the policy, as it really happened.
std::string GatewayServer::PolicyStartLine(uint64_t head, bool in_force) const {
  const uint64_t seeded = policy_admin_->seeded_revision();
  std::string line = absl::StrCat("sharing policy: revision ", head);
  if (head == 0) {
    absl::StrAppend(&line,
                    " (empty: owners and open data only; set policy_file or "
                    "apply one with dxctl policy apply)");
  } else if (seeded != 0) {
    absl::StrAppend(&line, " (seeded from ", config_.policy_file(),
                    " by this node)");
  } else if (!config_.policy_file().empty() && start_revision_ == 0) {
    absl::StrAppend(&line, " (seeded by another node at revision ", head, "; ",
                    config_.policy_file(), " was not used)");
  } else {
    absl::StrAppend(&line, " (from the policy store",
                    config_.policy_file().empty()
                        ? ")"
                        : "; policy_file seeds an empty store only)");
  }
  if (!in_force) {
    absl::StrAppend(&line, "; NOT yet in force here (revision ",
                    sync_->Current()->revision(),
                    " is): exchanges are refused until it is");
  }
  return line;
}

absl::Status GatewayServer::BuildServices() {
  DX_ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(config_.trust().ca_file()));
  DX_ASSIGN_OR_RETURN(std::string tls_cert,
                      ReadFile(config_.tls().cert_file()));
  DX_ASSIGN_OR_RETURN(std::string tls_key, ReadFile(config_.tls().key_file()));
  // The adapter channel takes no more than the gateway can send on.
  adapters_ = std::make_unique<AdapterPool>(
      AdapterPool::Options{ca_pem, tls_cert, tls_key,
                           static_cast<int>(config_.max_response_bytes())});

  ExchangeDeps deps;
  deps.checker = checker_.get();
  deps.replay = backends_.replay.get();
  deps.authorizer = sync_->authorizer();
  deps.audit = audit_log_.get();
  deps.signer = signer_.get();
  deps.adapters = adapters_.get();
  deps.clock = clock_;
  // Health, housekeeping and every exchange ask this one gate.
  readiness_ = std::make_unique<Readiness>(
      Readiness::Sources{
          [log = audit_log_.get()] { return log->Health(); },
          [runtime = backends_.runtime.get()] { return runtime->Health(); },
          [sync = sync_.get()] { return sync->Health(); }},
      [](const absl::Status& why) {
        Log(why.ok() ? "SERVING again"
                     : absl::StrCat("NOT_SERVING: ", why.message()));
      });
  deps.readiness = [gate = readiness_.get()] { return gate->Check(); };
  deps.node_id = config_.node_id();
  deps.subject_hmac_key = subject_key_;
  deps.adapter_timeout = absl::Milliseconds(config_.adapter_timeout_ms());
  deps.max_records_unary = config_.max_records_unary();
  deps.stream_batch_rows = config_.stream_batch_rows();
  deps.max_answer_bytes = config_.max_response_bytes();
  deps.max_request_bytes = config_.max_request_bytes();
  deps.max_in_flight = config_.max_in_flight();
  observers_ = std::make_unique<ExchangeObservers>();
  exchange_log_ = std::make_unique<ExchangeLog>(clock_, 50);
  observers_->Add(exchange_log_.get());
  if (!config_.metrics().listen_address().empty()) {
    metrics_ = std::make_unique<metrics::Metrics>();
    exchange_metrics_ = std::make_unique<PrometheusExchangeMetrics>(
        &metrics_->registry(),
        PrometheusExchangeMetrics::Options{config_.metrics().agency_labels()});
    observers_->Add(exchange_metrics_.get());
  }
  deps.observer = observers_.get();
  exchange_ = std::make_unique<ExchangeService>(std::move(deps));

  gate_ = std::make_unique<authz::CallGate>(
      trust_.get(),
      [log = audit_log_.get()](const authz::CallGate::RefusedCall& call) {
        return audit::AppendAndWait(
                   log,
                   audit::AdminRefusalRecord(
                       call.actor, call.identity_verified, call.cert_sha256,
                       call.action, call.detail, static_cast<int>(call.code)))
            .status();
      });
  // Export bundles carry the log key's issuers up to the root.
  std::vector<std::string> chain_der;
  for (const std::string& file :
       {config_.trust().intermediates_file(), config_.trust().ca_file()}) {
    if (file.empty()) continue;
    DX_ASSIGN_OR_RETURN(std::string pem, ReadFile(file));
    DX_ASSIGN_OR_RETURN(auto ders, certs::PemBundleToDer(pem));
    chain_der.insert(chain_der.end(), ders.begin(), ders.end());
  }
  services::AuditService::Deps audit;
  audit.db = state_db_.get();
  audit.log = audit_log_.get();
  audit.gate = gate_.get();
  audit.subject_hmac_key = subject_key_;
  audit.chain_der = chain_der;
  audit.retention = absl::Hours(24) * config_.audit().retention_days();
  audit.clock = clock_;
  audit.node_id = config_.node_id();
  audit.pruner = pruner_.get();
  if (etcd::Client* etcd = backends_.runtime->etcd()) {
    checkpoint_log_ = std::make_unique<cluster::CheckpointLog>(
        etcd, config_.cluster().prefix());
    audit.checkpoints = checkpoint_log_.get();
  }
  audit_service_ = std::make_unique<services::AuditService>(std::move(audit));
  policy_service_ = std::make_unique<services::PolicyAdminService>(
      policy_admin_.get(), gate_.get());
  RegistryAdmin::Deps registry;
  registry.source = backends_.registry.get();
  registry.writable = backends_.writable_registry;
  registry.file = config_.registry_file();
  registry.file_source = backends_.file_registry;
  registry.sync = sync_.get();
  registry.clock = clock_;
  registry.record = [log = audit_log_.get()](const std::string& actor,
                                             const std::string& action,
                                             const std::string& detail) {
    return audit::AppendAndWait(log, audit::AdminRecord(actor, action, detail))
        .status();
  };
  registry_admin_ = std::make_unique<RegistryAdmin>(std::move(registry));
  registry_service_ = std::make_unique<services::RegistryAdminService>(
      registry_admin_.get(), gate_.get());
  node_service_ = std::make_unique<services::NodeService>(
      [this] { return Status(); },
      [this](const std::string& actor, const std::string& out_dir) {
        return Backup(actor, out_dir);
      },
      gate_.get());
  return absl::OkStatus();
}

absl::StatusOr<v1::BackupManifest> GatewayServer::Backup(
    const std::string& actor, const std::string& out_dir) {
  BackupSources src;
  src.node_id = config_.node_id();
  src.clock = clock_;
  src.state_db = state_db_.get();
  src.checkpoint_policy = backends_.checkpoint_policy;
  src.policy_revision = [this] { return sync_->Current()->revision(); };
  src.subject_key_file = DataDir(config_.data_dir()).subject_key();
  auto m = TakeBackup(src, out_dir);
  const std::string detail =
      m.ok()
          ? absl::StrCat(
                "into ", out_dir, ": ", m->audit_records(),
                " records, tree head of size ", m->tree_head().tree_size(),
                " root ", HexEncode(m->tree_head().root_hash()),
                m->policy_included()
                    ? absl::StrCat(", policy revision ", m->policy_revision())
                    : std::string(", policy in etcd (not included)"))
          : absl::StrCat("into ", out_dir, " failed: ", m.status().message());
  // The record names who took it; a failed backup is recorded as such.
  (void)audit::AppendAndWait(
      audit_log_.get(),
      audit::AdminRecord(
          actor, m.ok() ? "gateway.backup" : "gateway.backup-failed", detail));
  Log(absl::StrCat("backup by ", actor, " ", detail));
  return m;
}

absl::Status GatewayServer::NotServingReason() const {
  return readiness_->Why();
}

v1::NodeStatus GatewayServer::Status() const {
  v1::NodeStatus out;
  out.set_node_id(config_.node_id());
  const absl::Status why = NotServingReason();
  out.set_serving(why.ok());
  out.set_not_serving_reason(std::string(why.message()));
  std::shared_ptr<const policy::PolicySnapshot> snap = sync_->Current();
  out.set_policy_revision(snap->revision());
  out.set_registry_revision(snap->registry()->revision());
  out.set_state(backends_.writable_registry != nullptr ? "etcd" : "local");
  out.set_audit_records(audit_log_->next_sequence());
  out.set_started_unix_micros(absl::ToUnixMicros(started_));
  if (checkpoint_log_ != nullptr) {
    auto known = checkpoint_log_->KnownNodes();
    if (known.ok()) {
      for (auto& n : *known) *out.add_known_nodes() = std::move(n);
    }
    auto alarms = checkpoint_log_->Alarms();
    if (alarms.ok()) {
      for (auto& a : *alarms) *out.add_audit_alarms() = std::move(a);
    }
  }
  auto members = backends_.runtime->Members();
  if (members.ok()) {
    for (auto& m : *members) *out.add_members() = std::move(m);
  }
  audit::AuditReader reader(state_db_.get());
  if (auto head = reader.TreeHead(0); head.ok()) {
    out.set_tree_head_size(head->tree_size());
    out.set_tree_head_unix_millis(static_cast<int64_t>(head->timestamp_ms()));
  }
  for (const certs::Expiry& e : Expiries()) {
    v1::CertificateExpiry* x = out.add_expiries();
    x->set_what(e.what);
    x->set_subject(e.subject);
    x->set_not_after_unix(absl::ToUnixSeconds(e.not_after));
  }
  return out;
}

std::vector<certs::Expiry> GatewayServer::Expiries() const {
  std::vector<std::pair<std::string, std::string>> files = {
      {config_.tls().cert_file(), "gateway TLS"},
      {config_.signing().cert_file(), "signing"},
      {config_.audit().log_signing().cert_file(), "log signing"},
      {config_.trust().ca_file(), "trust anchor"},
      {config_.trust().intermediates_file(), "intermediate"}};
  std::vector<certs::Expiry> out;
  for (const auto& [file, what] : files) {
    if (file.empty()) continue;
    auto found = certs::CertificateExpiries(file, what);
    if (!found.ok()) continue;
    // A leaf's chain repeats its issuers: only the leaf is "what".
    out.push_back(found->front());
    if (what == "trust anchor" || what == "intermediate") {
      out.insert(out.end(), found->begin() + 1, found->end());
    }
  }
  for (const std::string& file : config_.trust().crl_files()) {
    auto found = certs::CrlNextUpdates(file);
    if (found.ok()) out.insert(out.end(), found->begin(), found->end());
  }
  return out;
}

absl::Status GatewayServer::RecordStart() {
  const std::string detail = absl::StrCat(
      "config: ", FilesDigest({config_path_}),
      "; registry: ", FilesDigest({config_.registry_file()}), "; policy_file: ",
      config_.policy_file().empty() ? std::string("none")
                                    : FilesDigest({config_.policy_file()}),
      "; trust anchors: ", FilesDigest({config_.trust().ca_file()}),
      "; signing certificate sha256=",
      HexEncode(certs::Sha256(signer_->certificate_der())),
      "; log certificate sha256=",
      HexEncode(certs::Sha256(log_signer_->certificate_der())));
  return Record("gateway.start", detail);
}

absl::Status GatewayServer::Listen() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // Served from checked copies that gRPC re-reads every second, so that a
  // rotated certificate takes effect without a restart (server_reload.cc).
  DX_ASSIGN_OR_RETURN(std::string installed, InstallTls());
  const std::string live = DataDir(config_.data_dir()).tls();
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
  builder.AddListeningPort(config_.listen_address(),
                           grpc::experimental::TlsServerCredentials(tls),
                           &port_);
  builder.RegisterService(exchange_.get());
  builder.RegisterService(audit_service_.get());
  builder.RegisterService(policy_service_.get());
  builder.RegisterService(registry_service_.get());
  builder.RegisterService(node_service_.get());
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  if (metrics_ != nullptr) {
    // First, so that calls the gate refuses are counted too.
    interceptors.push_back(metrics::NewGrpcServerMetrics(
        &metrics_->registry(),
        {"dx.v1.Exchange", "dx.v1.Audit", "dx.v1.PolicyAdmin",
         "dx.v1.RegistryAdmin", "dx.v1.Node"}));
  }
  interceptors.push_back(gate_->NewInterceptorFactory());
  // Health calls read the readiness of that very moment.
  interceptors.push_back(readiness_->NewHealthInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // Above max_request_bytes by kRequestSizeHeadroom: a request a little
  // over reaches the admission, which refuses it with an ErrorDetail and an
  // audit record (REASON_REQUEST_TOO_LARGE). The administrative services
  // share this limit.
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<uint64_t>(
      uint64_t{config_.max_request_bytes()} + kRequestSizeHeadroom,
      std::numeric_limits<int>::max())));
  builder.SetMaxSendMessageSize(static_cast<int>(config_.max_response_bytes()));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 256);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config_.listen_address(),
                     " (address in use, or bad TLS key/certificate)"));
  }
  // From here on, health says what the gate says (NOT_SERVING while the
  // policy head is not in force, for one).
  readiness_->SetPublisher([this](bool serving) { SetServing(serving); });
  if (!config_.port_file().empty()) {
    DX_RETURN_IF_ERROR(
        WriteFileAtomically(config_.port_file(), absl::StrCat(port_, "\n")));
  }
  Log(absl::StrCat("node ", config_.node_id(), " serving on port ", port_,
                   "; audit log at ", DataDir(config_.data_dir()).state(),
                   ", next record ", audit_log_->next_sequence()));
  return absl::OkStatus();
}

absl::Status GatewayServer::StartMetricsEndpoint() {
  if (metrics_ == nullptr) return absl::OkStatus();
  NodeMetricsSources sources;
  sources.node_id = config_.node_id();
  sources.clock = clock_;
  sources.not_serving = [this] { return NotServingReason(); };
  sources.expiries = [this] { return Expiries(); };
  sources.exchange = exchange_.get();
  sources.replay = backends_.replay.get();
  sources.audit_log = audit_log_.get();
  sources.state_db = state_db_.get();
  sources.data_dir = config_.data_dir();
  sources.min_free_bytes = uint64_t{config_.audit().min_free_mb()} << 20;
  sources.policy = sync_.get();
  metrics_->AddScrape(NodeMetrics(std::move(sources)));
  DX_ASSIGN_OR_RETURN(metrics_endpoint_,
                      metrics::HttpEndpoint::Start(
                          {config_.metrics().listen_address(),
                           [m = metrics_.get()] { return m->Exposition(); },
                           [this] { return NotServingReason(); }}));
  if (!config_.metrics().port_file().empty()) {
    DX_RETURN_IF_ERROR(
        WriteFileAtomically(config_.metrics().port_file(),
                            absl::StrCat(metrics_endpoint_->port(), "\n")));
  }
  Log(absl::StrCat("metrics on http://", config_.metrics().listen_address(),
                   " (port ", metrics_endpoint_->port(),
                   "): /metrics, /healthz"));
  return absl::OkStatus();
}

absl::Status GatewayServer::StartConsole() {
  const v1::ConsoleConfig& c = config_.console();
  if (c.listen_address().empty()) return absl::OkStatus();
  console::ConsoleServer::Options o;
  o.listen_address = c.listen_address();
  o.cert_file = config_.tls().cert_file();
  o.key_file = config_.tls().key_file();
  o.public_url = c.public_url();
  o.session_idle = absl::Seconds(c.session_idle_seconds());
  o.session_max = absl::Seconds(c.session_max_seconds());
  o.trust = trust_.get();
  // The console reaches the services through the gateway's own server, so
  // the gate decides its calls as it decides everyone's.
  o.channel = server_->InProcessChannel(grpc::ChannelArguments());
  o.record = [log = audit_log_.get()](const std::string& actor,
                                      const std::string& action,
                                      const std::string& detail) {
    return audit::AppendAndWait(log, audit::AdminRecord(actor, action, detail))
        .status();
  };
  o.record_refusal = [log = audit_log_.get()](
                         const authz::CallGate::RefusedCall& call) {
    return audit::AppendAndWait(
               log, audit::AdminRefusalRecord(
                        call.actor, call.identity_verified, call.cert_sha256,
                        call.action, call.detail, static_cast<int>(call.code)))
        .status();
  };
  o.clock = clock_;
  DX_ASSIGN_OR_RETURN(console_, console::ConsoleServer::Start(std::move(o)));
  gate_->SetConsoleSessions(
      [sessions = &console_->sessions()](absl::string_view id) {
        return sessions->CertificateOf(id);
      });
  if (!c.port_file().empty()) {
    DX_RETURN_IF_ERROR(WriteFileAtomically(
        c.port_file(), absl::StrCat(console_->port(), "\n")));
  }
  Log(absl::StrCat("console on https://", c.listen_address(), " (port ",
                   console_->port(), ")"));
  return absl::OkStatus();
}

void GatewayServer::SetServing(bool serving) {
  auto* health = server_->GetHealthCheckService();
  health->SetServingStatus(serving);
  health->SetServingStatus("dx.v1.Exchange", serving);
}

void GatewayServer::Housekeeping() {
  absl::Time next_crl_check = clock_->Now();
  absl::Time next_overload_report = clock_->Now() + absl::Seconds(10);
  auto next_watch = std::chrono::steady_clock::now();
  while (!stop_.load()) {
    const absl::Time now = clock_->Now();
    // Calls refused for max_in_flight are not audited one by one (that
    // would feed the flood): their count is, every 10 seconds.
    if (now >= next_overload_report) {
      next_overload_report = now + absl::Seconds(10);
      if (const uint64_t n = exchange_->TakeOverloadRefusals(); n > 0) {
        const std::string what = absl::StrCat(
            n,
            " exchange(s) refused with RESOURCE_EXHAUSTED in the last "
            "10 s: more than max_in_flight (",
            config_.max_in_flight(), ") in flight");
        Log(what);
        (void)Record("gateway.overload", what);
      }
    }
    if (now >= next_crl_check) {
      bool reloaded = false;
      absl::Status s = trust_->ReloadCrlsIfChanged(&reloaded);
      if (!s.ok()) {
        Log(absl::StrCat("CRL reload failed, keeping the old: ", s.message()));
      }
      if (reloaded) {
        Log(absl::StrCat("CRLs reloaded (generation ", trust_->crl_generation(),
                         ")"));
      }
      next_crl_check =
          now + absl::Seconds(config_.trust().crl_reload_seconds());
    }
    // Watched files, every second (real time: a file changes in it).
    if (std::chrono::steady_clock::now() >= next_watch) {
      next_watch = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      Reload("");
    }
    // Health calls and exchanges refresh the gate themselves; this keeps
    // health's watchers in step when neither comes (e.g. the store falls
    // silent past max_staleness_ms).
    (void)readiness_->Check();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void GatewayServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // No new console requests; those under way finish on the live server.
  // Under reload_mu_: a reload of the TLS pair may be handing it to the
  // console right now.
  if (console_ != nullptr) {
    absl::MutexLock lock(&reload_mu_);
    console_.reset();
    gate_->SetConsoleSessions(nullptr);
  }
  if (server_ != nullptr) {
    Log(absl::StrCat("draining in-flight calls (up to ",
                     config_.shutdown_grace_seconds(), " s)"));
    exchange_->StopAccepting();
    readiness_->Stop();
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(config_.shutdown_grace_seconds()));
  }
  stop_ = true;
  if (housekeeping_.joinable()) housekeeping_.join();
  if (pruner_ != nullptr) pruner_->Stop();
  if (prune_resumer_.joinable()) prune_resumer_.join();
  metrics_endpoint_.reset();  // its scrapes read what follows
  if (readiness_ != nullptr) readiness_->SetPublisher(nullptr);
  server_.reset();
  checkpointer_.reset();  // resigns: another node takes over at once
  const uint64_t next = audit_log_ ? audit_log_->next_sequence() : 0;
  node_service_.reset();
  registry_service_.reset();
  registry_admin_.reset();
  policy_service_.reset();
  audit_service_.reset();
  exchange_.reset();
  policy_admin_.reset();
  sync_.reset();
  pruner_.reset();
  audit_log_.reset();  // writes what is queued, signs a last tree head
  if (publisher_ != nullptr) {
    (void)publisher_->PublishOnce();  // that last tree head, for the cluster
    publisher_.reset();
  }
  cluster_reader_.reset();
  checkpoint_log_.reset();
  state_db_.reset();  // flushes and closes
  Log(absl::StrCat("stopped cleanly; audit log holds ", next, " records"));
}

GatewayServer::~GatewayServer() { Shutdown(); }

}  // namespace dx::gateway
