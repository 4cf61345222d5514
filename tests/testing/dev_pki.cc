#include "tests/testing/dev_pki.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace dx::testing {
namespace {

std::vector<std::string>& DirsToRemove() {
  static auto* dirs = new std::vector<std::string>();
  return *dirs;
}

void RemoveDirs() {
  for (const auto& d : DirsToRemove()) {
    std::error_code ec;
    std::filesystem::remove_all(d, ec);
  }
}

std::string PkiScript() {
  const char* env = std::getenv("DX_PKI_SCRIPT");
  return env != nullptr ? env : "certs/make-dev-pki.sh";
}

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmp ? tmp : "/tmp") + "/" + prefix + ".XXXXXX";
  char* made = mkdtemp(templ.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << templ;
    std::abort();
  }
  if (DirsToRemove().empty()) std::atexit(RemoveDirs);
  DirsToRemove().push_back(made);
  return made;
}

int RunPkiScript(const std::string& command, const std::string& dir,
                 const std::string& args, const std::string& env) {
  const std::string cmd = env + " bash '" + PkiScript() + "' " + command +
                          " '" + dir + "' " + args + " >/dev/null";
  return std::system(cmd.c_str());
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

std::string ReadOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    std::abort();
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace dx::testing
