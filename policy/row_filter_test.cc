#include "policy/row_filter.h"

#include <map>

#include "gtest/gtest.h"

namespace dx::policy {
namespace {

bool Eval(const std::string& expr,
          const std::map<std::string, std::string>& row,
          const std::map<std::string, std::string>& consumer = {}) {
  auto f = RowFilter::Parse(expr);
  EXPECT_TRUE(f.ok()) << f.status();
  if (!f.ok()) return false;
  std::vector<std::string> values;
  for (const auto& a : (*f)->consumer_attributes())
    values.push_back(consumer.at(a));
  return (*f)->Matches(
      [&](size_t i) -> absl::string_view { return row.at((*f)->fields()[i]); },
      values);
}

TEST(RowFilterTest, ComparisonsAndConsumerAttributes) {
  std::map<std::string, std::string> row = {{"p", "031"}, {"s", "active"}};
  EXPECT_TRUE(Eval("p == '031'", row));
  EXPECT_FALSE(Eval("p != \"031\"", row));
  EXPECT_TRUE(Eval("p == consumer.province", row, {{"province", "031"}}));
  EXPECT_FALSE(Eval("p == consumer.province", row, {{"province", "001"}}));
  EXPECT_TRUE(Eval("s in ['paused', 'active']", row));
  EXPECT_FALSE(Eval("s in ['closed']", row));
}

TEST(RowFilterTest, PrecedenceNotAndOrParentheses) {
  std::map<std::string, std::string> row = {{"a", "1"}, {"b", "2"}};
  EXPECT_TRUE(
      Eval("a == '1' || a == '9' && b == '9'", row));  // && binds tighter
  EXPECT_FALSE(Eval("(a == '1' || a == '9') && b == '9'", row));
  EXPECT_TRUE(Eval("!(b == '9')", row));
  EXPECT_FALSE(Eval("!b == '2'", row));
}

TEST(RowFilterTest, ReportsFieldsAndAttributesOnce) {
  auto f = RowFilter::Parse("x == consumer.k || x == consumer.k && y != 'z'");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->fields(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ((*f)->consumer_attributes(), (std::vector<std::string>{"k"}));
}

TEST(RowFilterTest, SyntaxErrorsSayWhereAndWhat) {
  for (const char* bad :
       {"", "a ==", "a = 'b'", "(a == 'b'", "a == 'b", "a in [",
        "consumer. == 'x'", "x.y == 'z'", "a == 'b' b == 'c'"}) {
    auto f = RowFilter::Parse(bad);
    EXPECT_FALSE(f.ok()) << bad;
    EXPECT_NE(f.status().message().find("row filter at character"),
              std::string::npos)
        << f.status();
  }
  // Deep nesting is refused, not a stack overflow.
  EXPECT_FALSE(RowFilter::Parse(std::string(200, '(') + "a == 'b'" +
                                std::string(200, ')'))
                   .ok());
}

}  // namespace
}  // namespace dx::policy
