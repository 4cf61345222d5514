// dxctl federation: check a federation anchor before it is deployed
// (docs/FEDERATION.md#anchors). verify-anchor runs every check a gateway
// will run (federation::Anchor::Load) and prints what the anchor vouches
// for: each platform's roots (subject, fingerprint, expiry), gateways,
// agencies and datasets, so that an operator reads what it will trust.
#include <openssl/x509.h>

#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "certs/crypto.h"
#include "cli/command.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "federation/anchor.h"

namespace dx::cli {
namespace {

std::string SubjectOf(X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  return buf;
}

int VerifyAnchor(const Flags& f) {
  if (f.positional().size() != 1 || !f.Has("signature") ||
      !f.Has("operator-cert")) {
    return Fail("federation", absl::InvalidArgumentError(
                                  "give the anchor, --signature FILE and "
                                  "--operator-cert PEM"));
  }
  federation::Anchor::Options options;
  options.operator_platform_id = f.Get("platform");
  if (f.Has("min-serial")) {
    (void)absl::SimpleAtoi(f.Get("min-serial"), &options.min_serial);
  }
  absl::StatusOr<federation::Anchor> anchor = federation::Anchor::LoadFiles(
      f.positional()[0], f.Get("signature"), f.Get("operator-cert"), options);
  if (!anchor.ok()) {
    Fail("federation", anchor.status());
    return anchor.status().code() == absl::StatusCode::kPermissionDenied
               ? kExitNotVerified
               : kExitFailed;
  }
  const v1::FederationAnchor& p = anchor->proto();
  std::cout << "anchor of " << p.platform_id() << ", serial " << p.serial()
            << ", issued " << p.issued_at() << ", expires " << p.expires_at()
            << ": signature verified, every check passed\n";
  for (const federation::Platform& platform : anchor->platforms()) {
    std::cout << "\nplatform " << platform.id;
    if (!platform.display_name.empty()) {
      std::cout << " (" << platform.display_name << ")";
    }
    std::cout << "\n";
    for (const std::string& der : platform.roots_der) {
      absl::StatusOr<certs::X509Ptr> cert = certs::ParseCertificateDer(der);
      if (!cert.ok()) continue;  // Load() parsed each already
      std::cout << "  root " << SubjectOf(cert->get()) << "\n"
                << "       sha256 "
                << absl::BytesToHexString(
                       certs::CertificateFingerprint(cert->get()))
                << "\n";
    }
    for (const v1::FederationGateway& g : platform.gateways) {
      std::cout << "  gateway " << g.address() << " (TLS name " << g.tls_name()
                << ")\n";
    }
    for (const v1::FederatedPlatform& fp : p.platforms()) {
      if (fp.platform_id() != platform.id) continue;
      if (!fp.agencies().empty()) {
        std::cout << "  agencies " << absl::StrJoin(fp.agencies(), ", ")
                  << "\n";
      }
      if (!fp.datasets().empty()) {
        std::cout << "  datasets " << absl::StrJoin(fp.datasets(), ", ")
                  << "\n";
      }
    }
  }
  return kExitOk;
}

const CommandTable& FederationTable() {
  static const auto* table = new CommandTable{
      "federation",
      "usage: dxctl federation SUBCOMMAND [flags]\n\n",
      R"(
An anchor is a YAML file signed by a platform operator's key
(openssl dgst -sha256 -sign operator.key -out anchor.yaml.sig anchor.yaml);
docs/FEDERATION.md#anchors says what it holds and what is checked.
Exit status: 0 valid, 3 the signature does not verify, 1 another check
failed, 2 usage.
)",
      {},
      {},
      {
          {"verify-anchor",
           "verify-anchor ANCHOR --signature SIG --operator-cert PEM "
           "[--platform ID] [--min-serial N]",
           "check an anchor's signature and every rule, and print what it\n"
           "vouches for (roots, gateways, agencies, datasets)",
           {"signature", "operator-cert", "platform", "min-serial"},
           {},
           {"min-serial"},
           VerifyAnchor},
      }};
  return *table;
}

}  // namespace

int RunFederation(const std::vector<std::string>& args) {
  return Dispatch(FederationTable(), args);
}

}  // namespace dx::cli
