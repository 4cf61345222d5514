#include "gateway/witness_port.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "audit/admin.h"
#include "audit/audit_log.h"
#include "certs/crypto.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "console/tls_identity.h"
#include "metrics/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"
#include "witness/cosignature.h"
#include "witness/keys.h"
#include "witness/witness.h"

namespace dx::gateway {
namespace {

// A log's ECDSA P-256 public key from a PEM file holding the key
// (SubjectPublicKeyInfo) or a certificate.
absl::StatusOr<certs::PkeyPtr> ReadP256PublicKey(const std::string& file) {
  DX_ASSIGN_OR_RETURN(std::string pem, ReadFile(file));
  certs::PkeyPtr key;
  if (absl::StrContains(pem, "-----BEGIN CERTIFICATE-----")) {
    auto cert = certs::ParseCertificatePem(pem);
    if (!cert.ok()) return cert.status();
    key.reset(X509_get_pubkey(cert->get()));
  } else {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    key.reset(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
  }
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        "holds no PEM public key (-----BEGIN PUBLIC KEY-----) or "
        "certificate");
  }
  DX_RETURN_IF_ERROR(certs::CheckP256(key.get()));
  return key;
}

absl::Status FieldError(absl::string_view field, const absl::Status& s) {
  return absl::InvalidArgumentError(
      absl::StrCat("witness.", field, ": ", s.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<witness::Witness>> BuildWitness(
    const v1::WitnessConfig& config,
    std::unique_ptr<witness::WitnessStore> store, const Clock* clock) {
  if (config.listen_address().empty()) return nullptr;
  auto pem = ReadFile(config.key_file());
  if (!pem.ok()) return FieldError("key_file", pem.status());
  auto key = witness::Ed25519Key::FromPrivatePem(*pem);
  if (!key.ok()) {
    return FieldError(
        "key_file",
        absl::InvalidArgumentError(absl::StrCat(
            config.key_file(),
            " is not an Ed25519 private key in PKCS#8 PEM (make one with "
            "`openssl genpkey -algorithm ed25519`): ",
            key.status().message())));
  }
  auto cosigner = witness::Cosigner::Create(config.name(), *std::move(key));
  if (!cosigner.ok()) return FieldError("name", cosigner.status());

  std::vector<witness::Witness::Log> logs;
  for (int i = 0; i < config.logs_size(); ++i) {
    const v1::WitnessedLog& c = config.logs(i);
    witness::Witness::Log log;
    log.origin = c.origin();
    for (int j = 0; j < c.vkeys_size(); ++j) {
      const std::string field = absl::StrCat("logs[", i, "].vkeys[", j, "]");
      auto v = witness::EcdsaNoteVerifier::FromVerifierKey(c.vkeys(j));
      if (!v.ok()) {
        return FieldError(field,
                          absl::InvalidArgumentError(absl::StrCat(
                              "not an ECDSA P-256 verifier key "
                              "(<origin>+<key id>+<base64(0x02 || SPKI)>): ",
                              v.status().message())));
      }
      if ((*v)->name() != c.origin()) {
        return FieldError(field, absl::InvalidArgumentError(absl::StrCat(
                                     "the key's name '", (*v)->name(),
                                     "' is not the log's origin '", c.origin(),
                                     "' (checkpoints are signed under their "
                                     "origin)")));
      }
      log.keys.push_back(*std::move(v));
    }
    for (int j = 0; j < c.public_key_files_size(); ++j) {
      const std::string field =
          absl::StrCat("logs[", i, "].public_key_files[", j, "]");
      auto pub = ReadP256PublicKey(c.public_key_files(j));
      if (!pub.ok()) {
        return FieldError(
            field, absl::InvalidArgumentError(absl::StrCat(
                       c.public_key_files(j), ": ", pub.status().message())));
      }
      auto v = witness::EcdsaNoteVerifier::Create(c.origin(), pub->get());
      if (!v.ok()) return FieldError(field, v.status());
      log.keys.push_back(*std::move(v));
    }
    logs.push_back(std::move(log));
  }
  return witness::Witness::Open(*std::move(cosigner), std::move(logs), clock,
                                std::move(store));
}

struct WitnessPort::State {
  const v1::WitnessConfig* config = nullptr;
  std::string endpoint;  // "<prefix>/add-checkpoint"
  std::unique_ptr<witness::Witness> witness;
  audit::AuditLog* audit_log = nullptr;
  prometheus::Family<prometheus::Counter>* refusals = nullptr;
  prometheus::Family<prometheus::Counter>* inconsistent = nullptr;
  // The evidence already audited (origin, both sizes and roots), so that
  // anyone replaying a log's inconsistent checkpoint cannot fill the audit
  // log with copies of it: each piece of evidence is recorded once.
  // Bounded: forgotten all at once when full (a replay is then recorded
  // once more, which is safe).
  static constexpr size_t kMaxRemembered = 4096;
  absl::Mutex mu;
  absl::flat_hash_set<std::string> audited ABSL_GUARDED_BY(mu);
  console::TlsIdentity identity;  // outlives server: its handshakes read it
  std::unique_ptr<http::Server> server;

  // Whether this evidence is new (and remembers it).
  bool FirstSeen(const witness::AddCheckpointResponse& r);
  void Audit(const witness::AddCheckpointResponse& r, const std::string& peer);
};

bool WitnessPort::State::FirstSeen(const witness::AddCheckpointResponse& r) {
  std::string key =
      absl::StrCat(r.origin, "\n", r.cosigned.size, "\n", r.submitted.size,
                   "\n", r.cosigned.root_hash, r.submitted.root_hash);
  absl::MutexLock lock(&mu);
  if (audited.size() >= kMaxRemembered) audited.clear();
  return audited.insert(std::move(key)).second;
}

http::Limits WitnessPort::DefaultLimits() {
  http::Limits l;
  l.max_header_bytes = 8 << 10;
  l.max_header_lines = 50;
  l.max_body_bytes = kMaxBodyBytes;
  // Peers submit a checkpoint now and then: a few connections each.
  l.max_connections = 64;
  l.max_connections_per_address = 8;
  l.request_timeout = absl::Seconds(10);
  l.write_timeout = absl::Seconds(10);
  l.workers = 2;
  l.max_queued = 32;
  return l;
}

WitnessPort::WitnessPort(std::unique_ptr<State> state)
    : state_(std::move(state)) {}

WitnessPort::~WitnessPort() {
  if (state_->server != nullptr) {
    state_->server->Stop();
    state_->server.reset();  // waits for the handlers under way
  }
}

int WitnessPort::port() const { return state_->server->port(); }

absl::StatusOr<std::unique_ptr<WitnessPort>> WitnessPort::Start(
    Options options) {
  auto state = std::make_unique<State>();
  state->config = options.config;
  state->endpoint =
      absl::StrCat(options.config->path_prefix(), "/add-checkpoint");
  state->witness = std::move(options.witness);
  state->audit_log = options.audit_log;
  if (options.metrics != nullptr) {
    prometheus::Registry& registry = options.metrics->registry();
    state->refusals = &prometheus::BuildCounter()
                           .Name("dx_witness_refusals_total")
                           .Help(
                               "Checkpoints this node's witness refused, by "
                               "log origin (\"\" when not one it "
                               "witnesses) and HTTP status.")
                           .Register(registry);
    state->inconsistent =
        &prometheus::BuildCounter()
             .Name("dx_witness_inconsistent_checkpoints_total")
             .Help(
                 "Checkpoints refused because they contradict one this "
                 "witness cosigned (the log rewrote its history), by "
                 "origin. Any increase raises DxWitnessedLogInconsistent.")
             .Register(registry);
  }
  {
    auto chain = ReadFile(options.cert_file);
    if (!chain.ok()) return chain.status();
    auto key = ReadFile(options.key_file);
    if (!key.ok()) return key.status();
    DX_RETURN_IF_ERROR(state->identity.Set(
        *chain, *key,
        absl::StrCat(options.cert_file, " / ", options.key_file)));
  }
  std::unique_ptr<WitnessPort> port(new WitnessPort(std::move(state)));
  State* s = port->state_.get();
  http::Server::Options so;
  so.listen_address = options.config->listen_address();
  so.name = "witness";
  so.limits = options.limits;
  so.tls = [s](SSL_CTX* ctx) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    s->identity.InstallOn(ctx);
    return absl::OkStatus();
  };
  // Only the endpoint takes a real body; elsewhere a small one is read
  // (and answered 404/405), so that the connections of strangers hold
  // little memory.
  so.body_limit = [s, max = options.limits.max_body_bytes](
                      const http::Request& head) -> size_t {
    return head.path == s->endpoint && head.method == "POST"
               ? max
               : std::min<size_t>(max, 1024);
  };
  WitnessPort* self = port.get();
  so.handler = [self](const http::Request& req, http::Response& res) {
    self->Handle(req, res);
  };
  DX_ASSIGN_OR_RETURN(s->server, http::Server::Start(std::move(so)));
  return port;
}

void WitnessPort::Handle(const http::Request& request,
                         http::Response& response) {
  State& s = *state_;
  if (request.path != s.endpoint) {
    response.status = 404;
    response.SetContent(absl::StrCat("no such endpoint; this witness serves "
                                     "POST ",
                                     s.endpoint, "\n"),
                        "text/plain; charset=utf-8");
    return;
  }
  if (request.method != "POST") {
    response.status = 405;
    response.SetHeader("Allow", "POST");
    response.SetContent(absl::StrCat(s.endpoint, " takes POST only\n"),
                        "text/plain; charset=utf-8");
    return;
  }
  witness::AddCheckpointResponse r = s.witness->AddCheckpoint(request.body);
  if (r.http_status != 200) {
    if (s.refusals != nullptr) {
      s.refusals
          ->Add({{"origin", r.origin}, {"status", absl::StrCat(r.http_status)}})
          .Increment();
    }
    if (r.evidence_of_misbehaviour && s.FirstSeen(r)) {
      if (s.inconsistent != nullptr) {
        s.inconsistent->Add({{"origin", r.origin}}).Increment();
      }
      s.Audit(r, request.remote_address);
    }
  }
  response.status = r.http_status;
  response.SetContent(std::move(r.body), r.content_type);
}

// The evidence is on disk before the refusal is answered: a log that
// misbehaves once may not be caught twice.
void WitnessPort::State::Audit(const witness::AddCheckpointResponse& r,
                               const std::string& peer) {
  LogEvent("dxgate", "error",
           absl::StrCat("witness: refused a checkpoint of '", r.origin,
                        "' from ", peer, " (", r.http_status, "): ", r.reason));
  if (audit_log == nullptr) return;
  v1::AuditRecord record;
  record.set_kind(v1::RECORD_KIND_WITNESS_REFUSAL);
  record.set_decision(v1::DECISION_DENY);
  record.set_status_code(r.http_status);
  record.set_message(r.reason);
  record.set_peer(peer);
  v1::WitnessEvidence* e = record.mutable_witness_evidence();
  e->set_origin(r.origin);
  e->set_cosigned_size(r.cosigned.size);
  e->set_cosigned_root(r.cosigned.root_hash);
  e->set_cosigned_note(r.cosigned.note);
  e->set_submitted_size(r.submitted.size);
  e->set_submitted_root(r.submitted.root_hash);
  e->set_submitted_old_size(r.old_size);
  e->set_submitted_note(r.submitted.note);
  e->set_peer(peer);
  auto done = audit::AppendAndWait(audit_log, std::move(record));
  if (!done.ok()) {
    LogEvent("dxgate", "error",
             absl::StrCat("witness: cannot record the refusal of '", r.origin,
                          "': ", done.status().message()));
  }
}

}  // namespace dx::gateway
