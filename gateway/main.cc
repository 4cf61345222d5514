// dxgate: the gateway server. The only place that wires concrete parts.
//
//   dxgate --config deploy/dxgate.yaml
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "audit/admin.h"
#include "audit/audit_reader.h"
#include "audit/audit_service.h"
#include "audit/rocksdb_audit_log.h"
#include "audit/state_db.h"
#include "certs/crypto.h"
#include "certs/trust_store.h"
#include "common/files.h"
#include "common/protobuf_logs.h"
#include "common/signals.h"
#include "common/status_macros.h"
#include "gateway/adapter_pool.h"
#include "gateway/config.h"
#include "gateway/exchange_service.h"
#include "gateway/registry.h"
#include "gateway/replay_guard.h"
#include "gateway/request_checker.h"
#include "policy/admin_service.h"
#include "policy/policy_admin.h"
#include "policy/policy_store.h"

namespace dx::gateway {
namespace {

void Log(const std::string& line) { std::cerr << "dxgate: " << line << "\n"; }

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
  const std::string path = config.data_dir() + "/subject-hmac.key";
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

absl::Status RecordStart(const v1::GatewayConfig& config,
                         const std::string& config_path,
                         const certs::Signer& signer,
                         const certs::Signer& log_signer,
                         audit::AuditLog* log) {
  const std::string detail = absl::StrCat(
      "config: ", FilesDigest({config_path}),
      "; registry: ", FilesDigest({config.registry_file()}), "; policy_file: ",
      config.policy_file().empty() ? std::string("none")
                                   : FilesDigest({config.policy_file()}),
      "; trust anchors: ", FilesDigest({config.trust().ca_file()}),
      "; signing certificate sha256=",
      HexEncode(certs::Sha256(signer.certificate_der())),
      "; log certificate sha256=",
      HexEncode(certs::Sha256(log_signer.certificate_der())));
  auto r = audit::AppendAndWait(
      log, audit::AdminRecord(absl::StrCat("gateway:", config.node_id()),
                              "gateway.start", detail));
  return r.status();
}

absl::Status Run(const std::string& config_path) {
  DX_ASSIGN_OR_RETURN(v1::GatewayConfig config, LoadGatewayConfig(config_path));
  DX_ASSIGN_OR_RETURN(auto registry,
                      Registry::LoadFile(config.registry_file()));
  certs::TrustStore::Options trust_options;
  trust_options.ca_file = config.trust().ca_file();
  trust_options.intermediates_file = config.trust().intermediates_file();
  trust_options.crl_files.assign(config.trust().crl_files().begin(),
                                 config.trust().crl_files().end());
  trust_options.require_crl = config.trust().require_crl();
  DX_ASSIGN_OR_RETURN(auto trust, certs::TrustStore::Create(trust_options));
  DX_ASSIGN_OR_RETURN(auto signer,
                      certs::Signer::FromFiles(config.signing().key_file(),
                                               config.signing().cert_file()));
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir(), ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create data_dir ", config.data_dir(), ": ", ec.message()));
  }
  DX_ASSIGN_OR_RETURN(std::string subject_key, SubjectKey(config));
  // Tree heads are signed with the log key, by default the signing key.
  std::unique_ptr<certs::Signer> separate_log_signer;
  const certs::Signer* log_signer = signer.get();
  const v1::KeyPair& log_keys = config.audit().log_signing();
  if (!log_keys.key_file().empty()) {
    DX_ASSIGN_OR_RETURN(
        separate_log_signer,
        certs::Signer::FromFiles(log_keys.key_file(), log_keys.cert_file()));
    log_signer = separate_log_signer.get();
  }
  audit::StateDb::Options db_options;
  db_options.path = config.data_dir() + "/state";
  DX_ASSIGN_OR_RETURN(auto state_db, audit::StateDb::Open(db_options));
  audit::RocksDbAuditLog::Options audit_options;
  audit_options.sync = config.audit().sync();
  audit_options.tree_head_signer = log_signer;
  audit_options.node_id = config.node_id();
  audit_options.tree_head_interval =
      absl::Milliseconds(config.audit().tree_head_interval_ms());
  audit_options.tree_head_every_records =
      config.audit().tree_head_every_records();
  audit_options.min_free_bytes = uint64_t{config.audit().min_free_mb()} << 20;
  DX_ASSIGN_OR_RETURN(auto audit_log, audit::RocksDbAuditLog::Create(
                                          state_db.get(), audit_options));
  const Clock* clock = SystemClock::Get();
  // The replay guard lives in memory and is rebuilt from the audit log at
  // every start (see replay_guard.h).
  InMemoryReplayGuard replay(clock);
  {
    audit::AuditReader reader(state_db.get());
    DX_ASSIGN_OR_RETURN(
        uint64_t restored,
        RebuildFromAuditLog(
            reader, &replay, clock->Now(),
            absl::Seconds(config.max_request_lifetime_seconds() +
                          config.clock_skew_seconds())));
    Log(absl::StrCat("replay guard: ", restored,
                     " unexpired request ids restored from the audit log"));
  }
  RequestChecker::Options checker_options;
  checker_options.clock_skew = absl::Seconds(config.clock_skew_seconds());
  checker_options.max_lifetime =
      absl::Seconds(config.max_request_lifetime_seconds());
  RequestChecker checker(checker_options, trust.get(), &replay, clock);
  // The sharing policy: versioned in its own RocksDB, compiled into the
  // snapshot the exchange path decides with (docs/POLICY.md).
  DX_ASSIGN_OR_RETURN(auto policy_store,
                      policy::PolicyStore::Open(config.data_dir() + "/policy"));
  policy::PolicyAdmin::Deps policy_deps;
  policy_deps.registry = &registry->proto();
  policy_deps.store = policy_store.get();
  policy_deps.clock = clock;
  policy_deps.record = [log = audit_log.get()](const std::string& actor,
                                               const std::string& action,
                                               const std::string& detail) {
    return audit::AppendAndWait(log, audit::AdminRecord(actor, action, detail))
        .status();
  };
  DX_ASSIGN_OR_RETURN(auto policy_admin,
                      policy::PolicyAdmin::Create(std::move(policy_deps),
                                                  config.policy_file()));
  Log(absl::StrCat("sharing policy: revision ", policy_store->head(),
                   policy_store->head() == 0
                       ? " (empty: owners and open data only; set policy_file "
                         "or apply one with dxctl policy apply)"
                       : ""));

  DX_ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(config.trust().ca_file()));
  DX_ASSIGN_OR_RETURN(std::string tls_cert, ReadFile(config.tls().cert_file()));
  DX_ASSIGN_OR_RETURN(std::string tls_key, ReadFile(config.tls().key_file()));
  AdapterPool adapters({ca_pem, tls_cert, tls_key});

  ExchangeService::Deps deps;
  deps.registry = registry.get();
  deps.authorizer = policy_admin->authorizer();
  deps.checker = &checker;
  deps.audit = audit_log.get();
  deps.signer = signer.get();
  deps.adapters = &adapters;
  deps.clock = clock;
  deps.node_id = config.node_id();
  deps.subject_hmac_key = subject_key;
  deps.adapter_timeout = absl::Milliseconds(config.adapter_timeout_ms());
  deps.max_records_unary = config.max_records_unary();
  deps.stream_batch_rows = config.stream_batch_rows();
  deps.max_in_flight = config.max_in_flight();
  ExchangeService service(std::move(deps));

  // Export bundles carry the log key's issuers up to the root.
  std::vector<std::string> chain_der;
  for (const std::string& file :
       {config.trust().intermediates_file(), config.trust().ca_file()}) {
    if (file.empty()) continue;
    DX_ASSIGN_OR_RETURN(std::string pem, ReadFile(file));
    DX_ASSIGN_OR_RETURN(auto ders, certs::PemBundleToDer(pem));
    chain_der.insert(chain_der.end(), ders.begin(), ders.end());
  }
  audit::AuditService::Deps audit_deps;
  audit_deps.db = state_db.get();
  audit_deps.log = audit_log.get();
  audit_deps.trust = trust.get();
  audit_deps.subject_hmac_key = subject_key;
  audit_deps.chain_der = chain_der;
  audit_deps.retention = absl::Hours(24) * config.audit().retention_days();
  audit_deps.clock = clock;
  audit_deps.node_id = config.node_id();
  audit::AuditService audit_service(std::move(audit_deps));
  policy::PolicyAdminService policy_service(policy_admin.get(), trust.get());

  // The start is an admin record: which configuration, registry, keys and
  // trust anchors this node runs with, so changes show up in the log.
  DX_RETURN_IF_ERROR(
      RecordStart(config, config_path, *signer, *log_signer, audit_log.get()));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::SslServerCredentialsOptions ssl(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = ca_pem;
  ssl.pem_key_cert_pairs.push_back({tls_key, tls_cert});
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address(),
                           grpc::SslServerCredentials(ssl), &port);
  builder.RegisterService(&service);
  builder.RegisterService(&audit_service);
  builder.RegisterService(&policy_service);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(config.max_request_bytes()));
  builder.SetMaxSendMessageSize(static_cast<int>(config.max_response_bytes()));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 256);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen_address(),
                     " (address in use, or bad TLS key/certificate)"));
  }
  auto* health = server->GetHealthCheckService();
  auto set_serving = [&](bool serving) {
    health->SetServingStatus(serving);
    health->SetServingStatus("dx.v1.Exchange", serving);
  };
  set_serving(true);
  if (!config.port_file().empty()) {
    DX_RETURN_IF_ERROR(
        WriteFileAtomically(config.port_file(), absl::StrCat(port, "\n")));
  }
  Log(absl::StrCat("node ", config.node_id(), " serving on port ", port,
                   "; audit log at ", db_options.path, ", next record ",
                   audit_log->next_sequence()));

  // Housekeeping: CRL reloads and health follow the audit log's state.
  std::atomic<bool> stop{false};
  std::thread housekeeping([&] {
    absl::Time next_crl_check = absl::Now();
    absl::Time next_overload_report = absl::Now() + absl::Seconds(10);
    bool serving = true;
    while (!stop.load()) {
      // Calls refused for max_in_flight are not audited one by one (that
      // would feed the flood): their count is, every 10 seconds.
      if (absl::Now() >= next_overload_report) {
        next_overload_report = absl::Now() + absl::Seconds(10);
        if (const uint64_t n = service.TakeOverloadRefusals(); n > 0) {
          const std::string what = absl::StrCat(
              n,
              " exchange(s) refused with RESOURCE_EXHAUSTED in the last "
              "10 s: more than max_in_flight (",
              config.max_in_flight(), ") in flight");
          Log(what);
          (void)audit::AppendAndWait(
              audit_log.get(),
              audit::AdminRecord(absl::StrCat("gateway:", config.node_id()),
                                 "gateway.overload", what));
        }
      }
      if (absl::Now() >= next_crl_check) {
        bool reloaded = false;
        absl::Status s = trust->ReloadCrlsIfChanged(&reloaded);
        if (!s.ok())
          Log(absl::StrCat("CRL reload failed, keeping the old: ",
                           s.message()));
        if (reloaded)
          Log(absl::StrCat("CRLs reloaded (generation ",
                           trust->crl_generation(), ")"));
        next_crl_check =
            absl::Now() + absl::Seconds(config.trust().crl_reload_seconds());
      }
      const bool healthy = audit_log->Health().ok();
      if (healthy != serving) {
        serving = healthy;
        set_serving(serving);
        Log(serving
                ? "audit log recovered: SERVING"
                : absl::StrCat("NOT_SERVING: ", audit_log->Health().message()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });

  const int sig = WaitForTerminationSignal();
  Log(absl::StrCat("signal ", sig, ": draining in-flight calls (up to ",
                   config.shutdown_grace_seconds(), " s)"));
  service.StopAccepting();
  set_serving(false);
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::seconds(config.shutdown_grace_seconds()));
  stop = true;
  housekeeping.join();
  const uint64_t next = audit_log->next_sequence();
  audit_log.reset();  // writes what is queued
  state_db.reset();   // flushes and closes
  Log(absl::StrCat("stopped cleanly; audit log holds ", next, " records"));
  return absl::OkStatus();
}

}  // namespace
}  // namespace dx::gateway

int main(int argc, char** argv) {
  dx::BlockTerminationSignals();
  // Debian's Abseil checks every mutex for lock-order cycles (a debug aid
  // costing ~2% of the gateway's CPU in profiles); our lock order is fixed.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  dx::QuietProtobufLogs();
  if (argc != 3 || std::strcmp(argv[1], "--config") != 0) {
    std::cerr << "usage: dxgate --config FILE.yaml\n";
    return 2;
  }
  absl::Status s = dx::gateway::Run(argv[2]);
  if (!s.ok()) {
    std::cerr << "dxgate: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
