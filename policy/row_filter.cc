#include "policy/row_filter.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dx::policy {

// Recursive descent over the grammar
//   expr    := and ('||' and)*
//   and     := unary ('&&' unary)*
//   unary   := '!' unary | '(' expr ')' | compare
//   compare := operand ('==' | '!=') operand | operand 'in' '[' list ']'
class RowFilterParser {
 public:
  explicit RowFilterParser(absl::string_view text) : text_(text) {}

  absl::StatusOr<std::shared_ptr<const RowFilter>> Run() {
    auto filter = std::shared_ptr<RowFilter>(new RowFilter());
    f_ = filter.get();
    f_->text_ = std::string(text_);
    auto root = Expr(0);
    if (!root.ok()) return root.status();
    SkipSpace();
    if (pos_ != text_.size()) return Error("expected && or || or the end");
    f_->root_ = *root;
    return std::shared_ptr<const RowFilter>(std::move(filter));
  }

 private:
  static constexpr int kMaxDepth = 32;

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("row filter at character ", pos_ + 1, ": ", what));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(text_[pos_])) ++pos_;
  }
  bool Eat(absl::string_view token) {
    SkipSpace();
    if (text_.substr(pos_, token.size()) != token) return false;
    pos_ += token.size();
    return true;
  }
  size_t Add(RowFilter::Node node) {
    f_->nodes_.push_back(std::move(node));
    return f_->nodes_.size() - 1;
  }

  absl::StatusOr<size_t> Expr(int depth) {
    if (depth > kMaxDepth) return Error("nested too deeply");
    auto first = And(depth);
    if (!first.ok()) return first;
    RowFilter::Node node{RowFilter::Node::kOr, {*first}, {}};
    while (Eat("||")) {
      auto next = And(depth);
      if (!next.ok()) return next;
      node.children.push_back(*next);
    }
    return node.children.size() == 1 ? *first : Add(std::move(node));
  }

  absl::StatusOr<size_t> And(int depth) {
    auto first = Unary(depth);
    if (!first.ok()) return first;
    RowFilter::Node node{RowFilter::Node::kAnd, {*first}, {}};
    while (Eat("&&")) {
      auto next = Unary(depth);
      if (!next.ok()) return next;
      node.children.push_back(*next);
    }
    return node.children.size() == 1 ? *first : Add(std::move(node));
  }

  absl::StatusOr<size_t> Unary(int depth) {
    if (depth > kMaxDepth) return Error("nested too deeply");
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '!' &&
        text_.substr(pos_, 2) != "!=") {
      ++pos_;
      auto inner = Unary(depth + 1);
      if (!inner.ok()) return inner;
      return Add({RowFilter::Node::kNot, {*inner}, {}});
    }
    if (Eat("(")) {
      auto inner = Expr(depth + 1);
      if (!inner.ok()) return inner;
      if (!Eat(")")) return Error("expected )");
      return inner;
    }
    return Compare();
  }

  absl::StatusOr<size_t> Compare() {
    auto left = Operand();
    if (!left.ok()) return left.status();
    RowFilter::Node node;
    node.operands.push_back(*std::move(left));
    if (Eat("==")) {
      node.kind = RowFilter::Node::kEq;
    } else if (Eat("!=")) {
      node.kind = RowFilter::Node::kNe;
    } else if (EatWord("in")) {
      node.kind = RowFilter::Node::kIn;
      if (!Eat("[")) return Error("expected [ after in");
      do {
        auto item = Operand();
        if (!item.ok()) return item.status();
        node.operands.push_back(*std::move(item));
      } while (Eat(","));
      if (!Eat("]")) return Error("expected , or ]");
      return Add(std::move(node));
    } else {
      return Error("expected ==, != or in");
    }
    auto right = Operand();
    if (!right.ok()) return right.status();
    node.operands.push_back(*std::move(right));
    return Add(std::move(node));
  }

  bool EatWord(absl::string_view word) {
    SkipSpace();
    if (text_.substr(pos_, word.size()) != word) return false;
    const size_t end = pos_ + word.size();
    if (end < text_.size() && IsNameChar(text_[end])) return false;
    pos_ = end;
    return true;
  }

  static bool IsNameChar(char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '.';
  }

  absl::StatusOr<RowFilter::Operand> Operand() {
    SkipSpace();
    if (pos_ >= text_.size())
      return Error("expected a field, consumer.X or a string");
    const char quote = text_[pos_];
    if (quote == '\'' || quote == '"') {
      const size_t end = text_.find(quote, pos_ + 1);
      if (end == absl::string_view::npos) return Error("unterminated string");
      RowFilter::Operand op{
          RowFilter::Operand::kLiteral, 0,
          std::string(text_.substr(pos_ + 1, end - pos_ - 1))};
      pos_ = end + 1;
      return op;
    }
    const size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    absl::string_view name = text_.substr(start, pos_ - start);
    if (name.empty()) {
      return Error("expected a field, consumer.X or a quoted string");
    }
    if (absl::StartsWith(name, "consumer.")) {
      name.remove_prefix(9);
      if (name.empty() || name.find('.') != absl::string_view::npos) {
        return Error("expected consumer.ATTRIBUTE");
      }
      return RowFilter::Operand{RowFilter::Operand::kConsumer,
                                IndexOf(&f_->attributes_, name), ""};
    }
    if (name.find('.') != absl::string_view::npos) {
      return Error(absl::StrCat("'", name,
                                "' is neither a field nor consumer.ATTRIBUTE"));
    }
    return RowFilter::Operand{RowFilter::Operand::kField,
                              IndexOf(&f_->fields_, name), ""};
  }

  static size_t IndexOf(std::vector<std::string>* names,
                        absl::string_view name) {
    auto it = std::find(names->begin(), names->end(), name);
    if (it != names->end()) return it - names->begin();
    names->emplace_back(name);
    return names->size() - 1;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  RowFilter* f_ = nullptr;
};

absl::StatusOr<std::shared_ptr<const RowFilter>> RowFilter::Parse(
    absl::string_view text) {
  if (text.size() > 4096) {
    return absl::InvalidArgumentError("row filter longer than 4096 characters");
  }
  return RowFilterParser(text).Run();
}

bool RowFilter::Matches(absl::FunctionRef<absl::string_view(size_t)> value,
                        const std::vector<std::string>& consumer) const {
  return Eval(root_, value, consumer);
}

bool RowFilter::Eval(size_t index,
                     absl::FunctionRef<absl::string_view(size_t)> value,
                     const std::vector<std::string>& consumer) const {
  const Node& n = nodes_[index];
  auto get = [&](const Operand& op) -> absl::string_view {
    switch (op.kind) {
      case Operand::kField:
        return value(op.index);
      case Operand::kConsumer:
        return consumer[op.index];
      case Operand::kLiteral:
        return op.literal;
    }
    return {};
  };
  switch (n.kind) {
    case Node::kOr:
      for (size_t c : n.children)
        if (Eval(c, value, consumer)) return true;
      return false;
    case Node::kAnd:
      for (size_t c : n.children)
        if (!Eval(c, value, consumer)) return false;
      return true;
    case Node::kNot:
      return !Eval(n.children[0], value, consumer);
    case Node::kEq:
      return get(n.operands[0]) == get(n.operands[1]);
    case Node::kNe:
      return get(n.operands[0]) != get(n.operands[1]);
    case Node::kIn: {
      const absl::string_view subject = get(n.operands[0]);
      for (size_t i = 1; i < n.operands.size(); ++i)
        if (get(n.operands[i]) == subject) return true;
      return false;
    }
  }
  return false;
}

}  // namespace dx::policy
