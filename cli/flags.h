// A minimal command-line flag reader for dxctl: "--name value" pairs,
// "--name=value", boolean "--name", and "-x value" for one-letter flags.
// Unknown flags are errors.
#ifndef DX_CLI_FLAGS_H_
#define DX_CLI_FLAGS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dx::cli {

class Flags {
 public:
  // `known` lists value flags; `booleans` lists flags without a value.
  static absl::StatusOr<Flags> Parse(const std::vector<std::string>& args,
                                     const std::set<std::string>& known,
                                     const std::set<std::string>& booleans);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& def = "") const;
  // Every value given for a repeatable flag, in order.
  std::vector<std::string> GetAll(const std::string& name) const;
  absl::StatusOr<std::string> Require(const std::string& name) const;
  // A number flag: `def` when absent; INVALID_ARGUMENT naming the flag when
  // its value is not a number.
  absl::StatusOr<uint64_t> GetUint(const std::string& name,
                                   uint64_t def = 0) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name,
                                 int64_t def = 0) const;
  // The i-th positional argument, as a number; errors say what it is.
  absl::StatusOr<uint64_t> PositionalUint(size_t i, const char* what) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace dx::cli

#endif  // DX_CLI_FLAGS_H_
