// Test helpers: a development PKI made once per test process with the real
// certs/make-dev-pki.sh (certificates made at test time, never committed).
#ifndef DX_CERTS_TESTING_DEV_PKI_H_
#define DX_CERTS_TESTING_DEV_PKI_H_

#include <string>

#include "certs/trust_store.h"
#include "common/clock.h"

namespace dx::testing {

// The folder of a dev PKI (made on first call). Layout: certs/README.md.
const std::string& DevPkiDir();

// TrustStore options that trust the dev PKI: its root, its intermediate
// and its CRL, checked at `clock`'s time.
certs::TrustStore::Options DevTrustStoreOptions(
    const Clock* clock = SystemClock::Get());

// Runs make-dev-pki.sh with `args` (after the command name and the folder);
// returns its exit status. `env` is prepended to the command (e.g.
// "DX_PKI_FOLDER=x").
int RunPkiScript(const std::string& command, const std::string& dir,
                 const std::string& args, const std::string& env = "");

}  // namespace dx::testing

#endif  // DX_CERTS_TESTING_DEV_PKI_H_
