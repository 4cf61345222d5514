// A node's changes without a restart (gateway/node_reloads.h). An invalid
// change is refused and the old one stays; the ConfigReloader records both
// outcomes.
#include "gateway/node_reloads.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/data_dir.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "console/console_server.h"
#include "gateway/adapter_pool.h"
#include "gateway/federation_anchors.h"
#include "gateway/federation_routes.h"
#include "gateway/peer_pool.h"
#include "gateway/registry_admin.h"

namespace dx::gateway {
certs::TrustStore::Options TrustOptionsOf(const v1::GatewayConfig& config,
                                          const Clock* clock) {
  certs::TrustStore::Options trust;
  trust.ca_file = config.trust().ca_file();
  trust.intermediates_file = config.trust().intermediates_file();
  trust.crl_files.assign(config.trust().crl_files().begin(),
                         config.trust().crl_files().end());
  trust.require_crl = config.trust().require_crl();
  trust.clock = clock;
  return trust;
}

std::vector<ConfigReloader::Reloadable> NodeReloads::Reloadables() {
  const v1::GatewayConfig& config = *parts_.config;
  std::vector<ConfigReloader::Reloadable> out;
  // In a cluster the registry is etcd's: the file only seeded it.
  if (parts_.file_registry_admin != nullptr) {
    out.push_back({"registry",
                   {config.registry_file()},
                   [this](auto trigger) { return ReloadRegistry(trigger); },
                   /*records_itself=*/true});
  }
  // Anchors first: the certificates below are checked against them.
  std::vector<std::string> trust = {config.trust().ca_file()};
  if (!config.trust().intermediates_file().empty()) {
    trust.push_back(config.trust().intermediates_file());
  }
  out.push_back(
      {"trust anchors", trust, [this](auto) { return ReloadTrust(); }});
  out.push_back({"TLS certificate",
                 {config.tls().cert_file(), config.tls().key_file()},
                 [this](auto) { return InstallTls(); }});
  out.push_back({"signing key",
                 {config.signing().cert_file(), config.signing().key_file()},
                 [this, &config](auto) {
                   return ReloadSigner(config.signing(), parts_.signer);
                 }});
  if (parts_.separate_log_signer != nullptr) {
    const v1::KeyPair& log_keys = config.audit().log_signing();
    out.push_back({"log signing key",
                   {log_keys.cert_file(), log_keys.key_file()},
                   [this, &log_keys](auto) {
                     return ReloadSigner(log_keys, parts_.separate_log_signer);
                   }});
  }
  if (parts_.federation != nullptr) {
    const v1::FederationConfig& f = config.federation();
    for (int i = 0; i < f.anchors_size(); ++i) {
      const v1::FederationAnchorFile& a = f.anchors(i);
      out.push_back(
          {absl::StrCat("federation anchor of ", a.operator_platform_id()),
           {a.anchor_file(), a.signature_file(), a.operator_certificate_file()},
           [this, i](auto) -> absl::StatusOr<std::string> {
             DX_ASSIGN_OR_RETURN(
                 std::string changed,
                 parts_.federation->Reload(static_cast<size_t>(i)));
             if (changed == "unchanged") return changed;
             // Peer platforms' roots may have changed: the TLS port
             // follows.
             DX_ASSIGN_OR_RETURN(std::string installed, InstallTls());
             return absl::StrCat(changed, "; TLS ", installed);
           }});
    }
  }
  return out;
}

absl::StatusOr<std::string> NodeReloads::ReloadRegistry(
    const std::string& trigger) {
  DX_ASSIGN_OR_RETURN(
      std::vector<std::string> changes,
      parts_.file_registry_admin->ReloadFile(
          absl::StrCat("gateway:", parts_.config->node_id()), trigger));
  return changes.empty() ? std::string("unchanged")
                         : absl::StrJoin(changes, ", ");
}

absl::Status NodeReloads::CheckOwnCertificate(const std::string& what,
                                              const std::string& der) {
  certs::CertVerdict v = parts_.trust->VerifyDer(der);
  if (!v.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the new ", what, " certificate is refused: ", v.message));
  }
  if (v.cert->principal.kind != certs::PrincipalKind::kGateway ||
      v.cert->principal.id != parts_.config->node_id()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the new ", what,
                     " certificate is not this node's (it must carry "
                     "urn:dx:gateway:",
                     parts_.config->node_id(), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NodeReloads::ReloadSigner(const v1::KeyPair& files,
                                                      certs::Signer* signer) {
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

absl::StatusOr<std::string> NodeReloads::InstallTls() {
  DX_ASSIGN_OR_RETURN(std::string cert,
                      ReadFile(parts_.config->tls().cert_file()));
  DX_ASSIGN_OR_RETURN(std::string key,
                      ReadFile(parts_.config->tls().key_file()));
  // The TLS port also lets peer platforms' gateways connect (their roots
  // from the anchors in force); every service checks its caller again
  // against this platform's own trust store, and only Exchange takes a
  // peer's gateway, as a hop (docs/FEDERATION.md). The adapters' channels
  // trust this platform's anchors alone.
  const std::string ca =
      parts_.federation_routes != nullptr
          ? absl::StrCat(anchors_pem_,
                         parts_.federation_routes->PeerGatewayRootsPem())
          : anchors_pem_;
  // The key matches the certificate, which is this node's and verifies.
  auto pair = certs::Signer::FromPem(key, cert);
  if (!pair.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        parts_.config->tls().key_file(), " / ",
        parts_.config->tls().cert_file(), ": ", pair.status().message()));
  }
  DX_RETURN_IF_ERROR(CheckOwnCertificate("TLS", (*pair)->certificate_der()));
  // The console first: it is the one that can still refuse the pair.
  if (console_ != nullptr) {
    DX_RETURN_IF_ERROR(console_->SetTlsPair(
        cert, key,
        absl::StrCat(parts_.config->tls().cert_file(), " / ",
                     parts_.config->tls().key_file())));
  }
  // gRPC watches these copies (refreshed every second): the key first, so
  // that a pair read between the two writes is a mismatch gRPC skips.
  const std::string dir = DataDir(parts_.config->data_dir()).tls();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  DX_RETURN_IF_ERROR(WriteFileAtomically(dir + "/ca.pem", ca));
  DX_RETURN_IF_ERROR(WriteFileAtomically(dir + "/key.pem", key));
  std::filesystem::permissions(
      dir + "/key.pem",
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
      ec);
  DX_RETURN_IF_ERROR(WriteFileAtomically(dir + "/cert.pem", cert));
  if (parts_.adapters != nullptr) {
    parts_.adapters->SetIdentity({anchors_pem_, cert, key});
  }
  if (parts_.peers != nullptr) parts_.peers->SetIdentity({cert, key});
  return absl::StrCat("certificate sha256 ",
                      HexEncode(certs::Sha256((*pair)->certificate_der())));
}

absl::StatusOr<std::string> NodeReloads::ReloadTrust() {
  // Checked on a new store first: the node's own certificates must still
  // verify under the new anchors, or it could serve no one.
  // Read before the stores read it: a change in between is a new digest,
  // reloaded at the next tick.
  DX_ASSIGN_OR_RETURN(std::string anchors,
                      ReadFile(parts_.config->trust().ca_file()));
  DX_ASSIGN_OR_RETURN(auto candidate, certs::TrustStore::Create(TrustOptionsOf(
                                          *parts_.config, parts_.clock)));
  DX_ASSIGN_OR_RETURN(std::string tls_pem,
                      ReadFile(parts_.config->tls().cert_file()));
  DX_ASSIGN_OR_RETURN(std::vector<std::string> tls_der,
                      certs::PemBundleToDer(tls_pem));
  if (tls_der.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        parts_.config->tls().cert_file(), " holds no certificate"));
  }
  for (const auto& [what, der] :
       {std::pair<std::string, std::string>{"TLS", tls_der.front()},
        {"signing", parts_.signer->certificate_der()},
        {"log signing", log_signer().certificate_der()}}) {
    certs::CertVerdict v = candidate->VerifyDer(der);
    if (!v.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("under the new trust anchors this node's own ", what,
                       " certificate is refused (", v.message,
                       "): rotate the certificates first, then the anchors"));
    }
  }
  DX_RETURN_IF_ERROR(parts_.trust->Reload());
  anchors_pem_ = anchors;
  // The TLS port's and the adapters' anchors follow.
  DX_ASSIGN_OR_RETURN(std::string installed, InstallTls());
  return absl::StrCat("anchors sha256 ", HexEncode(certs::Sha256(anchors)),
                      "; TLS ", installed);
}

}  // namespace dx::gateway
