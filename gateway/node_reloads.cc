// GatewayServer's changes without a restart (docs/OPERATIONS.md,
// "Changes without a restart"): the registry file, the TLS certificate and
// key (of the gRPC port, the web console and the calls to adapters alike),
// the signing key (and the log's, when separate), and the trust anchors
// and intermediates. Each is read whole and checked before it takes effect; an
// invalid one is refused, the old one stays, and both outcomes are audit
// records. Triggered by SIGHUP and by a change to a watched file (checked every
// second by the housekeeping thread).
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "audit/admin.h"
#include "certs/crypto.h"
#include "certs/trust_store.h"
#include "common/data_dir.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "console/console_server.h"
#include "gateway/adapter_pool.h"
#include "gateway/registry_admin.h"
#include "gateway/server.h"

namespace dx::gateway {
namespace {

// The SHA-256 of the files' contents together ("missing" for one that
// cannot be read), to tell a change.
std::string Digest(const std::vector<std::string>& files) {
  std::string all;
  for (const std::string& f : files) {
    auto text = ReadFile(f);
    absl::StrAppend(&all, f, "\n",
                    text.ok() ? HexEncode(certs::Sha256(*text)) : "missing",
                    "\n");
  }
  return HexEncode(certs::Sha256(all));
}

}  // namespace

std::vector<GatewayServer::Reloadable> GatewayServer::Reloadables() {
  std::vector<Reloadable> out;
  // In a cluster the registry is etcd's: the file only seeded it.
  if (backends_.file_registry != nullptr) {
    out.push_back({"registry", {config_.registry_file()}, [this](auto trigger) {
                     return ReloadRegistry(trigger);
                   }});
  }
  // Anchors first: the certificates below are checked against them.
  std::vector<std::string> trust = {config_.trust().ca_file()};
  if (!config_.trust().intermediates_file().empty()) {
    trust.push_back(config_.trust().intermediates_file());
  }
  out.push_back(
      {"trust anchors", trust, [this](auto) { return ReloadTrust(); }});
  out.push_back({"TLS certificate",
                 {config_.tls().cert_file(), config_.tls().key_file()},
                 [this](auto) { return InstallTls(); }});
  out.push_back({"signing key",
                 {config_.signing().cert_file(), config_.signing().key_file()},
                 [this](auto) {
                   return ReloadSigner(config_.signing(), signer_.get());
                 }});
  if (separate_log_signer_ != nullptr) {
    const v1::KeyPair& log_keys = config_.audit().log_signing();
    out.push_back({"log signing key",
                   {log_keys.cert_file(), log_keys.key_file()},
                   [this, log_keys](auto) {
                     return ReloadSigner(log_keys, separate_log_signer_.get());
                   }});
  }
  return out;
}

void GatewayServer::StartWatching() {
  absl::MutexLock lock(&reload_mu_);
  for (const Reloadable& r : Reloadables()) {
    seen_digests_[r.name] = Digest(r.files);
  }
}

void GatewayServer::Reload(const std::string& trigger) {
  absl::MutexLock lock(&reload_mu_);
  int changed = 0;
  for (const Reloadable& r : Reloadables()) {
    const std::string digest = Digest(r.files);
    if (digest == seen_digests_[r.name]) {
      settling_digests_.erase(r.name);
      continue;
    }
    // A watched change is taken once it has held for a tick, so that the
    // key and certificate written one after the other are read together.
    if (trigger.empty() && settling_digests_[r.name] != digest) {
      settling_digests_[r.name] = digest;
      continue;
    }
    settling_digests_.erase(r.name);
    // Seen, accepted or not: a refused file is refused once, and read
    // again when it changes again.
    seen_digests_[r.name] = digest;
    ++changed;
    const std::string why =
        trigger.empty()
            ? absl::StrCat("a change to ", absl::StrJoin(r.files, ", "))
            : trigger;
    absl::StatusOr<std::string> done = r.apply(why);
    const std::string actor = absl::StrCat("gateway:", config_.node_id());
    if (done.ok()) {
      LogEvent("dxgate", "info",
               absl::StrCat(r.name, " reloaded (", why, "): ", *done));
      if (r.name != "registry") {  // RegistryAdmin records its own
        (void)Record("gateway.reload",
                     absl::StrCat(r.name, " (", why, "): ", *done));
      }
    } else {
      LogEvent(
          "dxgate", "warning",
          absl::StrCat(r.name, " NOT reloaded (", why,
                       "), the one in force stays: ", done.status().message()));
      if (r.name != "registry") {
        (void)Record("gateway.reload-refused",
                     absl::StrCat(r.name, " (", why,
                                  "), the one in force "
                                  "stays: ",
                                  done.status().message()));
      }
    }
  }
  if (changed == 0 && !trigger.empty()) {
    LogEvent("dxgate", "info",
             absl::StrCat(trigger, ": no watched file changed"));
  }
}

absl::StatusOr<std::string> GatewayServer::ReloadRegistry(
    const std::string& trigger) {
  DX_ASSIGN_OR_RETURN(
      std::vector<std::string> changes,
      registry_admin_->ReloadFile(absl::StrCat("gateway:", config_.node_id()),
                                  trigger));
  return changes.empty() ? std::string("unchanged")
                         : absl::StrJoin(changes, ", ");
}

absl::Status GatewayServer::CheckOwnCertificate(const std::string& what,
                                                const std::string& der) {
  certs::CertVerdict v = trust_->VerifyDer(der);
  if (!v.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the new ", what, " certificate is refused: ", v.message));
  }
  if (v.cert->principal.kind != certs::PrincipalKind::kGateway ||
      v.cert->principal.id != config_.node_id()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the new ", what,
                     " certificate is not this node's (it must carry "
                     "urn:dx:gateway:",
                     config_.node_id(), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GatewayServer::ReloadSigner(
    const v1::KeyPair& files, certs::Signer* signer) {
  DX_ASSIGN_OR_RETURN(
      std::unique_ptr<certs::Signer> next,
      certs::Signer::FromFiles(files.key_file(), files.cert_file()));
  DX_RETURN_IF_ERROR(CheckOwnCertificate("signing", next->certificate_der()));
  const std::string before =
      HexEncode(certs::Sha256(signer->certificate_der()));
  const std::string after = HexEncode(certs::Sha256(next->certificate_der()));
  signer->Replace(std::move(*next));
  return absl::StrCat("certificate sha256 ", before, " -> ", after);
}

absl::StatusOr<std::string> GatewayServer::InstallTls() {
  DX_ASSIGN_OR_RETURN(std::string cert, ReadFile(config_.tls().cert_file()));
  DX_ASSIGN_OR_RETURN(std::string key, ReadFile(config_.tls().key_file()));
  const std::string& ca = anchors_pem_;
  // The key matches the certificate, which is this node's and verifies.
  auto pair = certs::Signer::FromPem(key, cert);
  if (!pair.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config_.tls().key_file(), " / ", config_.tls().cert_file(),
                     ": ", pair.status().message()));
  }
  DX_RETURN_IF_ERROR(CheckOwnCertificate("TLS", (*pair)->certificate_der()));
  // The console first: it is the one that can still refuse the pair.
  if (console_ != nullptr) {
    DX_RETURN_IF_ERROR(
        console_->SetTlsPair(cert, key,
                             absl::StrCat(config_.tls().cert_file(), " / ",
                                          config_.tls().key_file())));
  }
  // gRPC watches these copies (refreshed every second): the key first, so
  // that a pair read between the two writes is a mismatch gRPC skips.
  const std::string dir = DataDir(config_.data_dir()).tls();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  DX_RETURN_IF_ERROR(WriteFileAtomically(dir + "/ca.pem", ca));
  DX_RETURN_IF_ERROR(WriteFileAtomically(dir + "/key.pem", key));
  std::filesystem::permissions(
      dir + "/key.pem",
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
      ec);
  DX_RETURN_IF_ERROR(WriteFileAtomically(dir + "/cert.pem", cert));
  if (adapters_ != nullptr) adapters_->SetIdentity({ca, cert, key});
  return absl::StrCat("certificate sha256 ",
                      HexEncode(certs::Sha256((*pair)->certificate_der())));
}

absl::StatusOr<std::string> GatewayServer::ReloadTrust() {
  // Checked on a new store first: the node's own certificates must still
  // verify under the new anchors, or it could serve no one.
  // Read before the stores read it: a change in between is a new digest,
  // reloaded at the next tick.
  DX_ASSIGN_OR_RETURN(std::string anchors, ReadFile(config_.trust().ca_file()));
  DX_ASSIGN_OR_RETURN(auto candidate,
                      certs::TrustStore::Create(TrustOptions()));
  DX_ASSIGN_OR_RETURN(std::string tls_pem, ReadFile(config_.tls().cert_file()));
  DX_ASSIGN_OR_RETURN(std::vector<std::string> tls_der,
                      certs::PemBundleToDer(tls_pem));
  if (tls_der.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config_.tls().cert_file(), " holds no certificate"));
  }
  for (const auto& [what, der] :
       {std::pair<std::string, std::string>{"TLS", tls_der.front()},
        {"signing", signer_->certificate_der()},
        {"log signing", log_signer_->certificate_der()}}) {
    certs::CertVerdict v = candidate->VerifyDer(der);
    if (!v.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("under the new trust anchors this node's own ", what,
                       " certificate is refused (", v.message,
                       "): rotate the certificates first, then the anchors"));
    }
  }
  DX_RETURN_IF_ERROR(trust_->Reload());
  anchors_pem_ = anchors;
  // The TLS port's and the adapters' anchors follow.
  DX_ASSIGN_OR_RETURN(std::string installed, InstallTls());
  return absl::StrCat("anchors sha256 ", HexEncode(certs::Sha256(anchors)),
                      "; TLS ", installed);
}

}  // namespace dx::gateway
