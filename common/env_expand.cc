#include "common/env_expand.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace dx {
namespace {

bool IsNameChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

}  // namespace

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

absl::StatusOr<std::string> ExpandEnvironment(const std::string& text,
                                              const std::string& source,
                                              const EnvLookup& lookup) {
  std::string out;
  out.reserve(text.size());
  int line = 1;
  bool comment = false;  // a YAML comment: left as it is
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      comment = false;
    } else if (c == '#' && (i == 0 || text[i - 1] == ' ' ||
                            text[i - 1] == '\t' || text[i - 1] == '\n')) {
      comment = true;
    }
    if (comment) {
      out.push_back(c);
      continue;
    }
    if (c == '$' && text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 2;
      continue;
    }
    if (c != '$' || i + 1 >= text.size() || text[i + 1] != '{') {
      out.push_back(c);
      continue;
    }
    const size_t close = text.find('}', i + 2);
    const std::string name =
        close == std::string::npos ? "" : text.substr(i + 2, close - i - 2);
    bool valid = !name.empty() && !absl::ascii_isdigit(name[0]);
    for (char n : name) valid = valid && IsNameChar(n);
    if (!valid) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line,
          ": '${' must start an environment variable like ${NODE_ID} "
          "(letters, digits, _); write $${ for a literal ${"));
    }
    std::optional<std::string> value = lookup(name);
    if (!value.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line, ": ${", name,
          "} is not set in the environment; set it (systemd: Environment=, "
          "Kubernetes: env:) or write the value here"));
    }
    out += *value;
    i = close;
  }
  return out;
}

}  // namespace dx
