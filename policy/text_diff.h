// A line diff in the unified format (" ", "-", "+" prefixes, 3 lines of
// context, "@@" hunk headers), for `dxctl policy diff`.
#ifndef DX_POLICY_TEXT_DIFF_H_
#define DX_POLICY_TEXT_DIFF_H_

#include <string>

namespace dx::policy {

// Empty when the texts are equal. Very large inputs (over 4 million line
// pairs) are not diffed line by line: the answer says so.
std::string UnifiedDiff(const std::string& before, const std::string& after,
                        const std::string& before_name,
                        const std::string& after_name);

}  // namespace dx::policy

#endif  // DX_POLICY_TEXT_DIFF_H_
