#include "gateway/node_components.h"

#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "audit/audit_reader.h"
#include "audit/pruner.h"
#include "audit/rocksdb_audit_log.h"
#include "audit/state_db.h"
#include "authz/call_gate.h"
#include "certs/crypto.h"
#include "certs/trust_store.h"
#include "common/data_dir.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "gateway/adapter_pool.h"
#include "gateway/admin_recorder.h"
#include "gateway/exchange_log.h"
#include "gateway/exchange_service.h"
#include "gateway/federation_anchors.h"
#include "gateway/federation_routes.h"
#include "gateway/node_reloads.h"
#include "gateway/node_status.h"
#include "gateway/peer_pool.h"
#include "gateway/prometheus_exchange_metrics.h"
#include "gateway/readiness.h"
#include "gateway/registry_admin.h"
#include "gateway/request_checker.h"
#include "gateway/tree_head_stamping.h"
#include "metrics/metrics.h"
#include "policy/policy_admin.h"
#include "policy/policy_sync.h"

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

}  // namespace

NodeComponents::NodeComponents(const v1::GatewayConfig& config,
                               const Options& options)
    : config(config),
      clock(options.clock),
      started(options.clock->Now()),
      options_(options) {}

absl::StatusOr<std::unique_ptr<NodeComponents>> NodeComponents::Build(
    const v1::GatewayConfig& config, const Options& options) {
  std::unique_ptr<NodeComponents> c(new NodeComponents(config, options));
  std::string anchors_pem;
  DX_RETURN_IF_ERROR(c->OpenKeys(&anchors_pem));
  DX_RETURN_IF_ERROR(c->OpenAuditLog());
  DX_RETURN_IF_ERROR(c->OpenBackends());
  DX_RETURN_IF_ERROR(c->OpenPolicy());
  DX_RETURN_IF_ERROR(c->BuildExchange());
  // The gate records refusals within the console's flood budget (one
  // policy for both: authz/refusal_budget.h).
  authz::CallGate::Options gate;
  gate.clock = c->clock;
  c->gate = std::make_unique<authz::CallGate>(c->trust.get(), c->recorder.get(),
                                              gate);
  NodeReloads::Parts reload;
  reload.config = &c->config;
  reload.clock = c->clock;
  reload.trust = c->trust.get();
  reload.signer = c->signer.get();
  reload.separate_log_signer = c->separate_log_signer.get();
  reload.adapters = c->adapters.get();
  reload.federation = c->federation.get();
  reload.federation_routes = c->federation_routes.get();
  reload.peers = c->peers.get();
  if (c->backends.registry->ReloadableFile().ok()) {
    reload.file_registry_admin = c->registry_admin.get();
  }
  c->reloads = std::make_unique<NodeReloads>(reload, std::move(anchors_pem));
  DX_ASSIGN_OR_RETURN(
      c->stamper, MakeTreeHeadStamper(c->config, c->state_db.get(), c->clock));
  if (c->stamper != nullptr && c->metrics != nullptr) {
    c->metrics->AddScrape(TreeHeadStampingMetrics(c->stamper, c->clock));
  }
  return c;
}

absl::Status NodeComponents::OpenKeys(std::string* anchors_pem) {
  DX_ASSIGN_OR_RETURN(*anchors_pem, ReadFile(config.trust().ca_file()));
  DX_ASSIGN_OR_RETURN(trust,
                      certs::TrustStore::Create(TrustOptionsOf(config, clock)));
  DX_ASSIGN_OR_RETURN(signer,
                      certs::Signer::FromFiles(config.signing().key_file(),
                                               config.signing().cert_file()));
  // Tree heads are signed with the log key, by default the signing key.
  log_signer = signer.get();
  const v1::KeyPair& log_keys = config.audit().log_signing();
  if (!log_keys.key_file().empty()) {
    DX_ASSIGN_OR_RETURN(
        separate_log_signer,
        certs::Signer::FromFiles(log_keys.key_file(), log_keys.cert_file()));
    log_signer = separate_log_signer.get();
  }
  return absl::OkStatus();
}

absl::Status NodeComponents::OpenAuditLog() {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir(), ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create data_dir ", config.data_dir(), ": ", ec.message()));
  }
  DX_ASSIGN_OR_RETURN(subject_key, SubjectKey(config));
  audit::StateDb::Options db;
  db.path = DataDir(config.data_dir()).state();
  DX_ASSIGN_OR_RETURN(state_db, audit::StateDb::Open(db));
  if (config.federation().anchors_size() > 0) {
    DX_ASSIGN_OR_RETURN(
        federation,
        FederationAnchors::Load({&config.federation(), state_db.get(), clock}));
    for (const std::string& line : federation->Describe()) {
      LogEvent("dxgate", "info",
               absl::StrCat("federation (platform ",
                            config.federation().platform_id(), "): ", line));
    }
    federation_routes = std::make_unique<FederationRoutes>(
        config.federation(), federation.get(), clock);
  }
  audit::RocksDbAuditLog::Options log;
  log.sync = config.audit().sync();
  log.tree_head_signer = log_signer;
  log.node_id = config.node_id();
  log.tree_head_interval =
      absl::Milliseconds(config.audit().tree_head_interval_ms());
  log.tree_head_every_records = config.audit().tree_head_every_records();
  log.min_free_bytes = uint64_t{config.audit().min_free_mb()} << 20;
  log.completion_threads =
      static_cast<int>(config.audit().completion_threads());
  log.clock = clock;
  DX_ASSIGN_OR_RETURN(audit_log,
                      audit::RocksDbAuditLog::Create(state_db.get(), log));
  recorder =
      std::make_unique<AuditAdminRecorder>(audit_log.get(), config.node_id());
  audit::Pruner::Options prune;
  prune.chunk_records = config.audit().prune_chunk_records();
  prune.pause = absl::Milliseconds(config.audit().prune_pause_ms());
  pruner =
      std::make_unique<audit::Pruner>(state_db.get(), audit_log.get(), prune);
  return absl::OkStatus();
}

absl::Status NodeComponents::OpenBackends() {
  {
    audit::AuditReader reader(state_db.get());
    DX_ASSIGN_OR_RETURN(backends,
                        options_.make_backends(config, reader, clock));
  }
  Log(backends.description);
  trail_reader = std::make_unique<audit::AuditReader>(state_db.get());
  trail = backends.runtime->MakeAuditTrail(
      {trail_reader.get(), trust.get(), log_signer, recorder.get(), clock});
  return absl::OkStatus();
}

absl::Status NodeComponents::OpenPolicy() {
  RequestChecker::Options check;
  check.clock_skew = absl::Seconds(config.clock_skew_seconds());
  check.max_lifetime = absl::Seconds(config.max_request_lifetime_seconds());
  checker = std::make_unique<RequestChecker>(check, trust.get(), clock,
                                             federation_routes.get());
  // The sharing policy follows the store, compiled against the registry
  // (docs/POLICY.md).
  policy::PolicySync::Options follow;
  follow.max_staleness = backends.policy_max_staleness;
  DX_ASSIGN_OR_RETURN(sync,
                      policy::PolicySync::Start(
                          {backends.policy_store.get(), backends.registry.get(),
                           backends.quotas.get(), clock},
                          follow));
  start_revision = sync->Current()->revision();
  policy::PolicyAdmin::Deps admin;
  admin.store = backends.policy_store.get();
  admin.sync = sync.get();
  admin.clock = clock;
  admin.recorder = recorder.get();
  DX_ASSIGN_OR_RETURN(
      policy_admin,
      policy::PolicyAdmin::Create(std::move(admin), config.policy_file()));
  RegistryAdmin::Deps registry;
  registry.source = backends.registry.get();
  registry.sync = sync.get();
  registry.clock = clock;
  registry.recorder = recorder.get();
  registry_admin = std::make_unique<RegistryAdmin>(std::move(registry));
  // Whoever seeded the store (this node, or another that started at the
  // same moment), this node serves nothing before the store's head is in
  // force here (policy/policy_sync.h).
  DX_ASSIGN_OR_RETURN(const uint64_t head, sync->RequireStoreHead());
  const bool behind = sync->Current()->revision() < head;
  const absl::Time wait_start = absl::Now();
  const bool in_force = sync->WaitForRequiredHead(options_.policy_start_wait);
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
std::string NodeComponents::PolicyStartLine(uint64_t head,
                                            bool in_force) const {
  const uint64_t seeded = policy_admin->seeded_revision();
  std::string line = absl::StrCat("sharing policy: revision ", head);
  if (head == 0) {
    absl::StrAppend(&line,
                    " (empty: owners and open data only; set policy_file or "
                    "apply one with dxctl policy apply)");
  } else if (seeded != 0) {
    absl::StrAppend(&line, " (seeded from ", config.policy_file(),
                    " by this node)");
  } else if (!config.policy_file().empty() && start_revision == 0) {
    absl::StrAppend(&line, " (seeded by another node at revision ", head, "; ",
                    config.policy_file(), " was not used)");
  } else {
    absl::StrAppend(&line, " (from the policy store",
                    config.policy_file().empty()
                        ? ")"
                        : "; policy_file seeds an empty store only)");
  }
  if (!in_force) {
    absl::StrAppend(&line, "; NOT yet in force here (revision ",
                    sync->Current()->revision(),
                    " is): exchanges are refused until it is");
  }
  return line;
}

absl::Status NodeComponents::BuildExchange() {
  DX_ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(config.trust().ca_file()));
  DX_ASSIGN_OR_RETURN(std::string tls_cert, ReadFile(config.tls().cert_file()));
  DX_ASSIGN_OR_RETURN(std::string tls_key, ReadFile(config.tls().key_file()));
  // The adapter channel takes no more than the gateway can send on.
  adapters = std::make_unique<AdapterPool>(
      AdapterPool::Options{ca_pem, tls_cert, tls_key,
                           static_cast<int>(config.max_response_bytes())});
  if (federation_routes != nullptr) {
    // Room for the receipt this node adds before it sends the answer on.
    peers = std::make_unique<PeerPool>(
        PeerPool::Identity{tls_cert, tls_key},
        static_cast<int>(config.max_response_bytes() > 2 * kHopReceiptRoom
                             ? config.max_response_bytes() - kHopReceiptRoom
                             : config.max_response_bytes() / 2));
  }
  // Health, housekeeping and every exchange ask this one gate.
  readiness = std::make_unique<Readiness>(
      Readiness::Sources{
          [log = audit_log.get()] { return log->Health(); },
          [runtime = backends.runtime.get()] { return runtime->Health(); },
          [follow = sync.get()] { return follow->Health(); }},
      [](const absl::Status& why) {
        Log(why.ok() ? "SERVING again"
                     : absl::StrCat("NOT_SERVING: ", why.message()));
      });
  observers = std::make_unique<ExchangeObservers>();
  exchange_log = std::make_unique<ExchangeLog>(clock, 50);
  observers->Add(exchange_log.get());
  if (!config.metrics().listen_address().empty()) {
    metrics = std::make_unique<metrics::Metrics>();
    exchange_metrics = std::make_unique<PrometheusExchangeMetrics>(
        &metrics->registry(),
        PrometheusExchangeMetrics::Options{config.metrics().agency_labels()});
    observers->Add(exchange_metrics.get());
  }
  ExchangeDeps deps;
  deps.checker = checker.get();
  deps.replay = backends.replay.get();
  deps.authorizer = sync->authorizer();
  deps.audit = audit_log.get();
  deps.signer = signer.get();
  deps.adapters = adapters.get();
  deps.federation = federation_routes.get();
  deps.peers = peers.get();
  deps.clock = clock;
  deps.readiness = [gate = readiness.get()] { return gate->Check(); };
  deps.node_id = config.node_id();
  deps.subject_hmac_key = subject_key;
  deps.adapter_timeout = absl::Milliseconds(config.adapter_timeout_ms());
  deps.max_records_unary = config.max_records_unary();
  deps.stream_batch_rows = config.stream_batch_rows();
  deps.max_answer_bytes = config.max_response_bytes();
  deps.max_request_bytes = config.max_request_bytes();
  deps.max_in_flight = config.max_in_flight();
  deps.observer = observers.get();
  exchange = std::make_unique<ExchangeService>(std::move(deps));
  return absl::OkStatus();
}

v1::NodeStatus NodeComponents::Status() const {
  NodeStatusSources s;
  s.node_id = config.node_id();
  s.started = started;
  // The state is shared (in etcd) exactly when the registry takes commits.
  s.state = backends.registry->CanCommit().ok() ? "etcd" : "local";
  s.not_serving = [this] { return readiness->Why(); };
  s.policy_revision = [this] { return sync->Current()->revision(); };
  s.registry_revision = [this] {
    return sync->Current()->registry()->revision();
  };
  s.audit_records = [this] { return audit_log->next_sequence(); };
  s.tree_head = [this] {
    return audit::AuditReader(state_db.get()).TreeHead(0);
  };
  s.runtime = backends.runtime.get();
  s.trail = trail.get();
  s.expiries = [this] { return Expiries(); };
  return NodeStatusOf(s);
}

std::vector<certs::Expiry> NodeComponents::Expiries() const {
  std::vector<certs::Expiry> out = NodeExpiries(config);
  if (federation != nullptr) {
    for (certs::Expiry& e : federation->Expiries()) {
      out.push_back(std::move(e));
    }
  }
  return out;
}

absl::StatusOr<v1::BackupManifest> NodeComponents::Backup(
    const std::string& actor, const std::string& out_dir) {
  BackupSources src;
  src.node_id = config.node_id();
  src.clock = clock;
  src.state_db = state_db.get();
  src.checkpoint_policy = backends.checkpoint_policy;
  src.policy_revision = [this] { return sync->Current()->revision(); };
  src.subject_key_file = DataDir(config.data_dir()).subject_key();
  return RecordedBackup(src, actor, out_dir, recorder.get());
}

uint64_t NodeComponents::Close() {
  if (closed_) return 0;
  closed_ = true;
  if (trail != nullptr) trail->Resign();
  const uint64_t next = audit_log ? audit_log->next_sequence() : 0;
  stamper.reset();
  reloads.reset();
  gate.reset();
  exchange.reset();
  observers.reset();
  exchange_log.reset();
  exchange_metrics.reset();
  metrics.reset();
  readiness.reset();
  peers.reset();
  adapters.reset();
  registry_admin.reset();
  policy_admin.reset();
  sync.reset();
  checker.reset();
  pruner.reset();
  recorder.reset();
  audit_log.reset();  // writes what is queued, signs a last tree head
  if (trail != nullptr) trail->PublishLast();  // that head, for the cluster
  trail.reset();
  trail_reader.reset();
  {
    // Moved out, so that its members go in their own reverse order (the
    // runtime, which the others use, last).
    Backends gone = std::move(backends);
  }
  state_db.reset();  // flushes and closes
  return next;
}

NodeComponents::~NodeComponents() { Close(); }

}  // namespace dx::gateway
