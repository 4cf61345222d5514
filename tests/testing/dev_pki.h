// Test helpers: a development PKI made once per test process with the real
// certs/make-dev-pki.sh (certificates made at test time, never committed),
// and fresh temporary folders.
#ifndef DX_TESTS_TESTING_DEV_PKI_H_
#define DX_TESTS_TESTING_DEV_PKI_H_

#include <string>

namespace dx::testing {

// A fresh empty folder under $TMPDIR, removed at process exit.
std::string MakeTempDir(const std::string& prefix);

// The folder of a dev PKI (made on first call). Layout: certs/README.md.
const std::string& DevPkiDir();

// Runs make-dev-pki.sh with `args` (after the command name and the folder);
// returns its exit status. `env` is prepended to the command (e.g.
// "DX_PKI_FOLDER=x").
int RunPkiScript(const std::string& command, const std::string& dir,
                 const std::string& args, const std::string& env = "");

// File contents or a fatal test failure.
std::string ReadOrDie(const std::string& path);

}  // namespace dx::testing

#endif  // DX_TESTS_TESTING_DEV_PKI_H_
