// ${NAME} in a configuration file, replaced by the environment variable
// NAME: one file serves every node of a cluster, each started with its own
// environment (a systemd instance, a Kubernetes pod's name). "$${" stands
// for a literal "${"; comments (# to the end of the line) are left as they
// are. An unset variable is an error naming it and the line, never an
// empty value.
#ifndef DX_COMMON_ENV_EXPAND_H_
#define DX_COMMON_ENV_EXPAND_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace dx {

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment (getenv).
std::optional<std::string> ProcessEnv(const std::string& name);

// `source` names the text in errors ("dxgate.yaml:12: ...").
absl::StatusOr<std::string> ExpandEnvironment(
    const std::string& text, const std::string& source,
    const EnvLookup& lookup = ProcessEnv);

}  // namespace dx

#endif  // DX_COMMON_ENV_EXPAND_H_
