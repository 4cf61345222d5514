#include "gateway/check_config.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "certs/crypto.h"
#include "certs/expiry.h"
#include "certs/trust_store.h"
#include "common/files.h"
#include "common/yaml_proto.h"
#include "gateway/config.h"
#include "gateway/witness_port.h"
#include "gateway/witness_submitter.h"
#include "policy/snapshot.h"
#include "registry/registry.h"
#include "witness/store.h"
#include "witness/witness.h"

namespace dx::gateway {
namespace {

void CheckPair(const v1::KeyPair& pair, const std::string& field,
               std::vector<std::string>* problems,
               std::vector<std::string>* warnings) {
  if (pair.key_file().empty() && pair.cert_file().empty()) return;
  auto signer = certs::Signer::FromFiles(pair.key_file(), pair.cert_file());
  if (!signer.ok()) {
    problems->push_back(absl::StrCat(field, ": ", signer.status().message()));
    return;
  }
  auto expiries = certs::CertificateExpiries(pair.cert_file(), field);
  if (!expiries.ok() || expiries->empty()) return;
  const absl::Duration left = expiries->front().not_after - absl::Now();
  if (left < absl::ZeroDuration()) {
    problems->push_back(
        absl::StrCat(field, ": ", pair.cert_file(), " has expired; renew it"));
  } else if (left < absl::Hours(24 * 30)) {
    warnings->push_back(absl::StrCat(field, ": ", pair.cert_file(),
                                     " expires in ", left / absl::Hours(24),
                                     " days"));
  }
}

}  // namespace

std::vector<std::string> CheckGatewayConfig(
    const std::string& path, std::vector<std::string>* warnings) {
  std::vector<std::string> problems;
  auto config = LoadGatewayConfig(path);
  if (!config.ok()) {
    problems.push_back(std::string(config.status().message()));
    return problems;  // nothing else can be found without it
  }
  CheckPair(config->tls(), "tls", &problems, warnings);
  CheckPair(config->signing(), "signing", &problems, warnings);
  CheckPair(config->audit().log_signing(), "audit.log_signing", &problems,
            warnings);

  if (const auto& t = config->audit().timestamping(); !t.url().empty()) {
    auto roots = ReadFile(t.ca_file());
    if (!roots.ok() ||
        !absl::StrContains(*roots, "-----BEGIN CERTIFICATE-----")) {
      problems.push_back(absl::StrCat(
          "audit.timestamping.ca_file: ", t.ca_file(),
          " holds no PEM certificate: give the roots the authority's tokens "
          "chain to"));
    }
  }

  // The witness's keys, as its start reads them (its state is not opened).
  if (auto w = BuildWitness(config->witness(),
                            std::make_unique<witness::InMemoryWitnessStore>(),
                            SystemClock::Get());
      !w.ok()) {
    problems.push_back(std::string(w.status().message()));
  }
  if (absl::Status s = WitnessSubmitter::CheckPeers(config->witness());
      !s.ok()) {
    problems.push_back(std::string(s.message()));
  }

  certs::TrustStore::Options trust;
  trust.ca_file = config->trust().ca_file();
  trust.intermediates_file = config->trust().intermediates_file();
  trust.crl_files.assign(config->trust().crl_files().begin(),
                         config->trust().crl_files().end());
  trust.require_crl = config->trust().require_crl();
  if (auto store = certs::TrustStore::Create(trust); !store.ok()) {
    problems.push_back(absl::StrCat("trust: ", store.status().message()));
  }
  for (const std::string& crl : config->trust().crl_files()) {
    auto next = certs::CrlNextUpdates(crl);
    if (!next.ok()) continue;  // the trust store said why
    for (const auto& e : *next) {
      if (e.not_after < absl::Now()) {
        problems.push_back(absl::StrCat(
            "trust.crl_files: ", crl,
            " is past its nextUpdate: every certificate of its CA would be "
            "refused; publish a fresh CRL"));
      }
    }
  }

  auto registry = registry::Registry::LoadFile(config->registry_file());
  if (!registry.ok()) {
    problems.push_back(
        absl::StrCat("registry_file: ", registry.status().message()));
    return problems;
  }
  if (!config->policy_file().empty()) {
    auto text = ReadFile(config->policy_file());
    v1::PolicyDocument doc;
    YamlLines lines;
    absl::Status parsed =
        text.ok() ? YamlToProto(*text, config->policy_file(), &doc, &lines)
                  : text.status();
    if (!parsed.ok()) {
      problems.push_back(absl::StrCat("policy_file: ", parsed.message()));
      return problems;
    }
    std::vector<policy::PolicyProblem> found;
    (void)policy::PolicySnapshot::Compile(*registry, doc, nullptr, 1,
                                          absl::Now(), &found);
    for (const policy::PolicyProblem& p : found) {
      const int line = LineOf(lines, p.path);
      std::string where = config->policy_file();
      if (line > 0) absl::StrAppend(&where, ":", line);
      (p.error ? &problems : warnings)
          ->push_back(absl::StrCat(where, ": ", p.path, ": ", p.message));
    }
  }
  return problems;
}

}  // namespace dx::gateway
