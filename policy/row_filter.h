// RowFilter: which records a consumer sees, as a small boolean expression
// over the record's fields and the calling agency's attributes:
//
//   province_code == consumer.province_code && status in ['active', 'paused']
//
// Operands: a field name, consumer.ATTRIBUTE, or a quoted string. Operators:
// == != in [..] && || ! and parentheses. Parsed once when a policy is
// compiled; evaluation allocates nothing. Immutable and thread-safe.
#ifndef DX_POLICY_ROW_FILTER_H_
#define DX_POLICY_ROW_FILTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dx::policy {

class RowFilter {
 public:
  // INVALID_ARGUMENT naming the position and what was expected.
  static absl::StatusOr<std::shared_ptr<const RowFilter>> Parse(
      absl::string_view text);

  const std::string& text() const { return text_; }
  // Record fields the expression reads, each once.
  const std::vector<std::string>& fields() const { return fields_; }
  // Consumer attributes it reads, each once.
  const std::vector<std::string>& consumer_attributes() const {
    return attributes_;
  }

  // `field_value(i)` gives the value of fields()[i] in the row;
  // `consumer_values[j]` is the value of consumer_attributes()[j].
  bool Matches(absl::FunctionRef<absl::string_view(size_t)> field_value,
               const std::vector<std::string>& consumer_values) const;

  struct Operand {
    enum Kind { kField, kConsumer, kLiteral } kind;
    size_t index = 0;     // into fields_ or attributes_
    std::string literal;  // kLiteral
  };
  struct Node {
    enum Kind { kOr, kAnd, kNot, kEq, kNe, kIn } kind;
    std::vector<size_t> children;   // kOr, kAnd, kNot: node indices
    std::vector<Operand> operands;  // kEq, kNe: 2; kIn: subject, then list
  };

 private:
  friend class RowFilterParser;
  RowFilter() = default;
  bool Eval(size_t node, absl::FunctionRef<absl::string_view(size_t)> value,
            const std::vector<std::string>& consumer) const;

  std::string text_;
  std::vector<std::string> fields_;
  std::vector<std::string> attributes_;
  std::vector<Node> nodes_;
  size_t root_ = 0;
};

}  // namespace dx::policy

#endif  // DX_POLICY_ROW_FILTER_H_
