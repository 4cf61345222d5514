// dxctl pki: make, inspect and check certificates.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "certs/crypto.h"
#include "certs/identity.h"
#include "certs/trust_store.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "common/files.h"

namespace dx::cli {
namespace {

// The PKI script: $DX_PKI_SCRIPT, else beside the source tree this binary was
// built from, else the installed copy.
std::string FindPkiScript(const char* argv0) {
  if (const char* env = getenv("DX_PKI_SCRIPT")) return env;
  std::error_code ec;
  auto exe = std::filesystem::canonical("/proc/self/exe", ec);
  for (auto dir = exe.parent_path();
       !ec && dir.has_parent_path() && dir != dir.root_path();
       dir = dir.parent_path()) {
    auto candidate = dir / "certs" / "make-dev-pki.sh";
    if (std::filesystem::exists(candidate)) return candidate.string();
  }
  (void)argv0;
  return "/usr/share/dxgate/make-dev-pki.sh";
}

}  // namespace

int RunPki(const std::vector<std::string>& args, const char* argv0) {
  if (args.empty()) {
    std::cerr << "usage: dxctl pki init DIR | show CERT | verify CERT --ca F "
                 "[--intermediates F] [--crl F]\n";
    return 2;
  }
  const std::string sub = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (sub == "init") {
    if (rest.size() != 1) {
      std::cerr << "usage: dxctl pki init DIR\n";
      return 2;
    }
    const std::string script = FindPkiScript(argv0);
    const std::string cmd =
        absl::StrCat("bash '", script, "' init '", rest[0], "'");
    return std::system(cmd.c_str()) == 0 ? 0 : 1;
  }
  auto flags = Flags::Parse(rest, {"ca", "intermediates", "crl"}, {});
  if (!flags.ok() || flags->positional().size() != 1) {
    std::cerr << "dxctl pki " << sub << ": give one certificate file\n";
    return 2;
  }
  const std::string path = flags->positional()[0];
  auto pem = ReadFile(path);
  if (!pem.ok()) {
    std::cerr << "dxctl pki: " << pem.status().message() << "\n";
    return 2;
  }
  if (sub == "show") {
    auto cert = certs::ParseCertificatePem(*pem);
    if (!cert.ok()) {
      std::cerr << "dxctl pki show: " << path << ": " << cert.status().message()
                << "\n";
      return 1;
    }
    auto principal = certs::PrincipalOf(cert->get());
    std::cout << "certificate  " << path << "\n";
    if (principal.ok()) {
      std::cout << "identity     " << certs::PrincipalKindName(principal->kind)
                << " " << principal->id << "\n";
    } else {
      std::cout << "identity     none (" << principal.status().message()
                << ")\n";
    }
    std::cout << "sha256       "
              << HexEncode(certs::CertificateFingerprint(cert->get())) << "\n";
    return principal.ok() ? 0 : 1;
  }
  if (sub == "verify") {
    certs::TrustStore::Options o;
    o.ca_file = flags->Get("ca");
    o.intermediates_file = flags->Get("intermediates");
    if (flags->Has("crl")) o.crl_files.push_back(flags->Get("crl"));
    o.require_crl = false;
    auto trust = certs::TrustStore::Create(o);
    if (!trust.ok()) {
      std::cerr << "dxctl pki verify: " << trust.status().message() << "\n";
      return 2;
    }
    certs::CertVerdict v = (*trust)->VerifyPem(*pem);
    if (!v.ok()) {
      std::cout << "INVALID  " << v.message;
      if (v.claimed)
        std::cout << " (it claims " << certs::ActorName(*v.claimed) << ")";
      std::cout << "\n";
      return 3;
    }
    std::cout << "OK  " << certs::PrincipalKindName(v.cert->principal.kind)
              << " " << v.cert->principal.id << ", valid until "
              << absl::FormatTime("%Y-%m-%d", v.cert->not_after,
                                  absl::UTCTimeZone())
              << "\n";
    return 0;
  }
  std::cerr << "dxctl pki: unknown subcommand '" << sub << "'\n";
  return 2;
}

}  // namespace dx::cli
