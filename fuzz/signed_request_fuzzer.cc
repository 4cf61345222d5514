// Fuzzes the authentication of a signed request (RequestChecker): the
// SignedRequest decoding, the signer certificate's parsing and chain
// checks, and the envelope checks. Half of the inputs are used as envelope
// bytes that the fuzzer signs with a real agency key, so that the checks
// behind the signature (fields, freshness) are reached too.
//
// Needs a dev PKI: made once in a temporary folder with
// $DX_PKI_SCRIPT (default certs/make-dev-pki.sh, run from the repo root).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "certs/trust_store.h"
#include "common/library_logs.h"
#include "common/testing/temp_dir.h"
#include "gateway/request_checker.h"

namespace {

struct World {
  std::unique_ptr<dx::certs::TrustStore> trust;
  std::unique_ptr<dx::gateway::RequestChecker> checker;
  std::unique_ptr<dx::certs::Signer> signer;
  std::string tls_pem;
};

World* world = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dx::RouteLibraryLogs();
  world = new World();
  const std::string pki = dx::testing::DevPkiDir();
  dx::certs::TrustStore::Options o;
  o.ca_file = pki + "/root-ca.pem";
  o.intermediates_file = pki + "/intermediate-ca.pem";
  o.crl_files = {pki + "/crl.pem"};
  world->trust = *dx::certs::TrustStore::Create(o);
  world->checker = std::make_unique<dx::gateway::RequestChecker>(
      dx::gateway::RequestChecker::Options{}, world->trust.get(),
      dx::SystemClock::Get());
  const std::string agency = pki + "/agencies/000.00.00.H30/";
  world->signer =
      *dx::certs::Signer::FromFiles(agency + "sign.key", agency + "sign.pem");
  world->tls_pem = dx::testing::ReadOrDie(agency + "tls.pem");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  dx::v1::SignedRequest request;
  if (data[0] & 1) {
    // The rest is the envelope; sign it for real.
    request.set_envelope(rest);
    request.set_signature(*world->signer->Sign(rest));
    request.set_signer_certificate(world->signer->certificate_der());
  } else if (!request.ParseFromString(rest)) {
    return 0;
  }
  dx::gateway::CheckedRequest out;
  (void)world->checker->Check(request, world->tls_pem, &out);
  return 0;
}
