#include "certs/testing/dev_pki.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/testing/temp_dir.h"

namespace dx::testing {
namespace {

std::string PkiScript() {
  const char* env = std::getenv("DX_PKI_SCRIPT");
  return env != nullptr ? env : "certs/make-dev-pki.sh";
}

}  // namespace

int RunPkiScript(const std::string& command, const std::string& dir,
                 const std::string& args, const std::string& env) {
  const std::string cmd = env + " bash '" + PkiScript() + "' " + command +
                          " '" + dir + "' " + args + " >/dev/null";
  return std::system(cmd.c_str());
}

certs::TrustStore::Options DevTrustStoreOptions(const Clock* clock) {
  certs::TrustStore::Options o;
  o.ca_file = DevPkiDir() + "/root-ca.pem";
  o.intermediates_file = DevPkiDir() + "/intermediate-ca.pem";
  o.crl_files = {DevPkiDir() + "/crl.pem"};
  o.clock = clock;
  return o;
}

const std::string& DevPkiDir() {
  static const std::string* dir = [] {
    auto* d = new std::string(MakeTempDir("dx-pki") + "/pki");
    if (RunPkiScript("init", *d, "") != 0) {
      ADD_FAILURE() << "make-dev-pki.sh init failed";
      std::abort();
    }
    return d;
  }();
  return *dir;
}

}  // namespace dx::testing
