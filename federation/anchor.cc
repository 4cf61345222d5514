#include "federation/anchor.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/crypto.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/yaml_proto.h"

namespace dx::federation {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("federation anchor: ", field, ": ", what));
}

absl::StatusOr<absl::Time> ParseTime(absl::string_view field,
                                     const std::string& text) {
  absl::Time t;
  std::string err;
  if (text.empty() || !absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return Invalid(field, absl::StrCat("\"", text,
                                       "\" is not an RFC 3339 time such as "
                                       "2026-12-07T00:00:00Z"));
  }
  return t;
}

bool ValidPlatformId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '.' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

// Agency codes are dotted ("000.00.00.H30"); an entry ending in '.' is a
// prefix. Letters, digits and '.' only, so that no entry can match by a
// trick of encoding.
bool ValidAgencyEntry(absl::string_view e) {
  if (e.empty() || e.size() > 64 || e.front() == '.') return false;
  for (char c : e) {
    if (!absl::ascii_isalnum(c) && c != '.') return false;
  }
  return true;
}

// Whether agency entries `a` and `b` can name one same agency code.
bool Overlap(absl::string_view a, absl::string_view b) {
  const bool a_prefix = absl::EndsWith(a, ".");
  const bool b_prefix = absl::EndsWith(b, ".");
  if (a == b) return true;
  if (a_prefix && absl::StartsWith(b, a)) return true;
  if (b_prefix && absl::StartsWith(a, b)) return true;
  return false;
}

bool ValidAddress(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  int port = 0;
  return absl::SimpleAtoi(address.substr(colon + 1), &port) && port > 0 &&
         port < 65536;
}

}  // namespace

absl::StatusOr<Anchor> Anchor::Load(absl::string_view anchor_yaml,
                                    absl::string_view signature_der,
                                    absl::string_view operator_certificate_pem,
                                    const Options& options) {
  if (anchor_yaml.size() > kMaxBytes) {
    return Invalid("file", absl::StrCat("over ", kMaxBytes, " bytes"));
  }
  absl::StatusOr<certs::X509Ptr> op =
      certs::ParseCertificatePem(operator_certificate_pem);
  if (!op.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "federation anchor: the operator certificate does not parse (",
        op.status().message(),
        "): give the PEM certificate of the key that "
        "signs the anchors"));
  }
  certs::PkeyPtr key(X509_get_pubkey(op->get()));
  if (key == nullptr || !certs::CheckP256(key.get()).ok()) {
    return absl::InvalidArgumentError(
        "federation anchor: the operator certificate's key is not ECDSA "
        "P-256");
  }
  // The signature first: nothing of an unsigned file is read.
  if (!certs::VerifySignature(key.get(), anchor_yaml, signature_der)) {
    return absl::PermissionDeniedError(
        "federation anchor: the signature does not verify with the "
        "operator's certificate: the file was changed after it was signed, "
        "or signed by another key; ask the operator for the anchor and its "
        "signature (openssl dgst -sha256 -verify operator.pub -signature "
        "anchor.yaml.sig anchor.yaml must say Verified OK)");
  }
  Anchor a;
  DX_RETURN_IF_ERROR(
      YamlToProto(std::string(anchor_yaml), "federation anchor", &a.proto_));
  DX_RETURN_IF_ERROR(a.Check(options));
  return a;
}

absl::StatusOr<Anchor> Anchor::LoadFiles(const std::string& anchor_path,
                                         const std::string& signature_path,
                                         const std::string& operator_cert_path,
                                         const Options& options) {
  struct stat st;
  if (stat(anchor_path.c_str(), &st) == 0 &&
      static_cast<uint64_t>(st.st_size) > kMaxBytes) {
    return Invalid(anchor_path, absl::StrCat("over ", kMaxBytes, " bytes"));
  }
  absl::StatusOr<std::string> yaml = ReadFile(anchor_path);
  if (!yaml.ok()) return yaml.status();
  absl::StatusOr<std::string> sig = ReadFile(signature_path);
  if (!sig.ok()) return sig.status();
  absl::StatusOr<std::string> cert = ReadFile(operator_cert_path);
  if (!cert.ok()) return cert.status();
  return Load(*yaml, *sig, *cert, options);
}

absl::Status Anchor::Check(const Options& options) {
  const v1::FederationAnchor& p = proto_;
  if (!ValidPlatformId(p.platform_id())) {
    return Invalid("platform_id",
                   "required: lower-case letters, digits, '.' and '-'");
  }
  if (!options.operator_platform_id.empty() &&
      p.platform_id() != options.operator_platform_id) {
    return absl::PermissionDeniedError(absl::StrCat(
        "federation anchor: it says it is platform ", p.platform_id(),
        "'s, and the operator certificate configured is ",
        options.operator_platform_id, "'s"));
  }
  if (p.serial() == 0) return Invalid("serial", "required, 1 or more");
  if (p.serial() < options.min_serial) {
    return absl::FailedPreconditionError(absl::StrCat(
        "federation anchor: serial ", p.serial(),
        " is older than the anchor in force (serial ", options.min_serial,
        "); an older anchor is refused so that a root it revoked cannot "
        "come back"));
  }
  absl::StatusOr<absl::Time> issued = ParseTime("issued_at", p.issued_at());
  if (!issued.ok()) return issued.status();
  absl::StatusOr<absl::Time> expires = ParseTime("expires_at", p.expires_at());
  if (!expires.ok()) return expires.status();
  if (*issued > options.now + options.max_clock_skew) {
    return absl::FailedPreconditionError(
        absl::StrCat("federation anchor: issued_at ", p.issued_at(),
                     " is in the future; check this node's clock"));
  }
  if (*expires <= *issued) {
    return Invalid("expires_at", "must be after issued_at");
  }
  if (*expires <= options.now) {
    return absl::FailedPreconditionError(
        absl::StrCat("federation anchor: it expired at ", p.expires_at(),
                     "; ask the operator for a new one"));
  }
  expires_at_ = *expires;
  if (p.platforms().empty()) {
    return Invalid("platforms", "at least one platform");
  }
  time_t now_unix = absl::ToTimeT(options.now);
  for (int i = 0; i < p.platforms_size(); ++i) {
    const v1::FederatedPlatform& fp = p.platforms(i);
    const std::string at = absl::StrCat("platforms[", i, "]");
    if (!ValidPlatformId(fp.platform_id())) {
      return Invalid(at + ".platform_id",
                     "required: lower-case letters, digits, '.' and '-'");
    }
    if (Find(fp.platform_id()) != nullptr) {
      return Invalid(at + ".platform_id",
                     absl::StrCat(fp.platform_id(), " is listed twice"));
    }
    Platform platform;
    platform.id = fp.platform_id();
    platform.display_name = fp.display_name();
    if (fp.root_certificates_pem().empty()) {
      return Invalid(at + ".root_certificates_pem",
                     "at least one CA certificate of the platform's PKI");
    }
    // Roots are trusted; intermediates only help build a chain. Both must
    // be CA certificates valid now.
    auto read_cas = [&](const auto& pems, const char* field,
                        std::vector<std::string>* out) -> absl::Status {
      for (int r = 0; r < pems.size(); ++r) {
        const std::string where = absl::StrCat(at, ".", field, "[", r, "]");
        absl::StatusOr<std::vector<std::string>> ders =
            certs::PemBundleToDer(pems[r]);
        if (!ders.ok() || ders->empty()) {
          return Invalid(where, "not a PEM certificate");
        }
        for (std::string& der : *ders) {
          absl::StatusOr<certs::X509Ptr> cert = certs::ParseCertificateDer(der);
          if (!cert.ok()) return Invalid(where, "not a PEM certificate");
          if (X509_check_ca(cert->get()) < 1) {
            return Invalid(where,
                           "not a CA certificate (basicConstraints CA:TRUE)");
          }
          if (X509_cmp_time(X509_get0_notAfter(cert->get()), &now_unix) <= 0 ||
              X509_cmp_time(X509_get0_notBefore(cert->get()), &now_unix) > 0) {
            return Invalid(where, "not valid now (see its notBefore/notAfter)");
          }
          out->push_back(std::move(der));
        }
      }
      return absl::OkStatus();
    };
    DX_RETURN_IF_ERROR(read_cas(fp.root_certificates_pem(),
                                "root_certificates_pem", &platform.roots_der));
    DX_RETURN_IF_ERROR(read_cas(fp.intermediate_certificates_pem(),
                                "intermediate_certificates_pem",
                                &platform.intermediates_der));
    for (int g = 0; g < fp.gateways_size(); ++g) {
      const std::string where = absl::StrCat(at, ".gateways[", g, "]");
      if (!ValidAddress(fp.gateways(g).address())) {
        return Invalid(where + ".address", "host:port required");
      }
      if (fp.gateways(g).tls_name().empty()) {
        return Invalid(where + ".tls_name",
                       "required: the name its certificate carries");
      }
      platform.gateways.push_back(fp.gateways(g));
    }
    if (!fp.datasets().empty() && fp.gateways().empty()) {
      return Invalid(at + ".gateways",
                     "a platform that serves datasets needs a gateway");
    }
    const size_t index = platforms_.size();
    for (int e = 0; e < fp.agencies_size(); ++e) {
      const std::string& entry = fp.agencies(e);
      const std::string where = absl::StrCat(at, ".agencies[", e, "]");
      if (!ValidAgencyEntry(entry)) {
        return Invalid(where, absl::StrCat("\"", entry,
                                           "\" is not an agency code or a "
                                           "prefix ending in '.'"));
      }
      for (const auto& [other, owner] : agencies_) {
        if (Overlap(entry, other)) {
          return Invalid(where,
                         absl::StrCat(entry, " overlaps ", other, " of ",
                                      owner == index ? "the same platform"
                                                     : platforms_[owner].id,
                                      ": an agency belongs to one platform"));
        }
      }
      agencies_.emplace_back(entry, index);
    }
    for (int d = 0; d < fp.datasets_size(); ++d) {
      const std::string& id = fp.datasets(d);
      const std::string where = absl::StrCat(at, ".datasets[", d, "]");
      if (id.empty()) return Invalid(where, "empty");
      for (const auto& [other, owner] : datasets_) {
        if (other == id) {
          return Invalid(where, absl::StrCat(id, " is also served by ",
                                             platforms_[owner].id));
        }
      }
      datasets_.emplace_back(id, index);
    }
    platforms_.push_back(std::move(platform));
  }
  return absl::OkStatus();
}

const Platform* Anchor::PlatformOfAgency(absl::string_view agency_code) const {
  for (const auto& [entry, owner] : agencies_) {
    if (absl::EndsWith(entry, ".") ? absl::StartsWith(agency_code, entry)
                                   : agency_code == entry) {
      return &platforms_[owner];
    }
  }
  return nullptr;
}

const Platform* Anchor::PlatformOfDataset(absl::string_view dataset_id) const {
  for (const auto& [id, owner] : datasets_) {
    if (id == dataset_id) return &platforms_[owner];
  }
  return nullptr;
}

const Platform* Anchor::Find(absl::string_view platform_id) const {
  for (const Platform& p : platforms_) {
    if (p.id == platform_id) return &p;
  }
  return nullptr;
}

}  // namespace dx::federation
