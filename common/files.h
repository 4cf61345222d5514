// Small file helpers returning absl::Status with messages that name the path.
#ifndef DX_COMMON_FILES_H_
#define DX_COMMON_FILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/bytes.h"  // HexEncode, for the files that print digests

namespace dx {

absl::StatusOr<std::string> ReadFile(const std::string& path);
// Writes to a temporary file beside `path`, then renames it over `path`.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);
// `path` if absolute, else `base_dir`/`path`. Empty stays empty.
std::string ResolvePath(const std::string& base_dir, const std::string& path);
// The folder part of `path` ("." when there is none).
std::string DirName(const std::string& path);

}  // namespace dx

#endif  // DX_COMMON_FILES_H_
