// Test helpers for files: fresh temporary folders removed at process exit,
// and reading a file whole or failing the test.
#ifndef DX_COMMON_TESTING_TEMP_DIR_H_
#define DX_COMMON_TESTING_TEMP_DIR_H_

#include <string>

namespace dx::testing {

// A fresh empty folder under $TMPDIR, removed at process exit.
std::string MakeTempDir(const std::string& prefix);

// File contents or a fatal test failure.
std::string ReadOrDie(const std::string& path);

}  // namespace dx::testing

#endif  // DX_COMMON_TESTING_TEMP_DIR_H_
