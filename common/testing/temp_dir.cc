#include "common/testing/temp_dir.h"

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
