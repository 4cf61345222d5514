#include "cli/flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dx::cli {

absl::StatusOr<Flags> Flags::Parse(const std::vector<std::string>& args,
                                   const std::set<std::string>& known,
                                   const std::set<std::string>& booleans) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    // One-letter flags have one dash ("-f FILE", as kubectl writes it).
    const std::string a =
        args[i].size() == 2 && args[i][0] == '-' && args[i][1] != '-'
            ? "-" + args[i]
            : args[i];
    if (a.rfind("--", 0) != 0) {
      f.positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::string value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (booleans.count(name)) {
      f.values_.emplace(name, inline_value ? value : "true");
    } else if (known.count(name)) {
      if (!inline_value) {
        if (i + 1 >= args.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat("flag --", name, " needs a value"));
        }
        value = args[++i];
      }
      f.values_.emplace(name, value);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
  }
  return f;
}

std::string Flags::Get(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

std::vector<std::string> Flags::GetAll(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it)
    out.push_back(it->second);
  return out;
}

absl::StatusOr<std::string> Flags::Require(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("flag --", name, " is required"));
  }
  return it->second;
}

absl::StatusOr<uint64_t> Flags::GetUint(const std::string& name,
                                        uint64_t def) const {
  if (!Has(name)) return def;
  uint64_t v = 0;
  if (!absl::SimpleAtoi(Get(name), &v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flag --", name, " must be a whole number, not '", Get(name), "'"));
  }
  return v;
}

absl::StatusOr<int64_t> Flags::GetInt(const std::string& name,
                                      int64_t def) const {
  if (!Has(name)) return def;
  int64_t v = 0;
  if (!absl::SimpleAtoi(Get(name), &v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flag --", name, " must be a whole number, not '", Get(name), "'"));
  }
  return v;
}

absl::StatusOr<uint64_t> Flags::PositionalUint(size_t i,
                                               const char* what) const {
  uint64_t v = 0;
  if (positional_.size() <= i) {
    return absl::InvalidArgumentError(absl::StrCat("give ", what));
  }
  if (!absl::SimpleAtoi(positional_[i], &v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " must be a whole number, not '", positional_[i], "'"));
  }
  return v;
}

}  // namespace dx::cli
