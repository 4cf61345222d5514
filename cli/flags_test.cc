// dxctl's flag reader: every form it accepts, and what it refuses.
#include "cli/flags.h"

#include "gtest/gtest.h"

namespace dx::cli {
namespace {

TEST(FlagsTest, ReadsEveryForm) {
  auto f = Flags::Parse(
      {"pos1", "--a", "1", "--b=two", "--on", "-f", "file", "pos2", "--a", "3"},
      {"a", "b", "f"}, {"on"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Get("b"), "two");
  EXPECT_EQ(f->Get("f"), "file");
  EXPECT_TRUE(f->Has("on"));
  EXPECT_FALSE(f->Has("off"));
  EXPECT_EQ(f->GetAll("a"), (std::vector<std::string>{"1", "3"}));
  EXPECT_EQ(f->positional(), (std::vector<std::string>{"pos1", "pos2"}));
  EXPECT_EQ(f->Get("missing", "def"), "def");
}

TEST(FlagsTest, RefusesUnknownFlagsAndAMissingValue) {
  EXPECT_TRUE(
      absl::IsInvalidArgument(Flags::Parse({"--nope"}, {"a"}, {}).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(Flags::Parse({"--a"}, {"a"}, {}).status()));
}

TEST(FlagsTest, NumbersNameTheFlag) {
  auto f = Flags::Parse({"--n", "x", "--m", "5", "7", "y"}, {"n", "m"}, {});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f->GetUint("m"), 5u);
  EXPECT_EQ(*f->GetUint("absent", 9), 9u);
  auto bad = f->GetUint("n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--n"), std::string::npos);
  EXPECT_EQ(*f->PositionalUint(0, "the sequence"), 7u);
  EXPECT_FALSE(f->PositionalUint(1, "the sequence").ok());
  auto absent = f->PositionalUint(2, "the sequence");
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.status().message().find("give the sequence"),
            std::string::npos);
}

}  // namespace
}  // namespace dx::cli
