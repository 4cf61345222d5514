// The pure parts of `dxctl policy test`: a case of a policy test suite as
// the ExplainRequest it asks, and what is wrong with the answer. No I/O, so
// the same checks run offline (--policy --registry) and against a gateway.
#ifndef DX_CLI_POLICY_CASES_H_
#define DX_CLI_POLICY_CASES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "dx/v1/policy.pb.h"

namespace dx::cli {

// A case's `at` (or --at): RFC 3339, as Unix microseconds; empty is 0
// (now). Anything else is INVALID_ARGUMENT quoting it.
absl::StatusOr<int64_t> ParseAt(const std::string& text);

// The question case `c` asks, at `at_micros`.
v1::ExplainRequest ExplainRequestOf(const v1::PolicyTestCase& c,
                                    int64_t at_micros);

// What is wrong with `got` for case `c`; empty when it passes.
std::string CheckCase(const v1::PolicyTestCase& c,
                      const v1::ExplainResponse& got);

}  // namespace dx::cli

#endif  // DX_CLI_POLICY_CASES_H_
