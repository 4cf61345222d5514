#include "common/files.h"

#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"

namespace dx {
namespace {

TEST(FilesTest, ResolvePathKeepsAbsoluteAndJoinsRelative) {
  EXPECT_EQ(ResolvePath("/etc/dx", "/abs/x"), "/abs/x");
  EXPECT_EQ(ResolvePath("/etc/dx", "rel/x"), "/etc/dx/rel/x");
  EXPECT_EQ(ResolvePath("/etc/dx", ""), "");
}

TEST(FilesTest, DirName) {
  EXPECT_EQ(DirName("/etc/dx/a.yaml"), "/etc/dx");
  EXPECT_EQ(DirName("a.yaml"), ".");
  EXPECT_EQ(DirName("/a.yaml"), "/");
}

TEST(FilesTest, HexEncode) {
  EXPECT_EQ(HexEncode(std::string("\x00\x0f\xab\xff", 4)), "000fabff");
}

TEST(FilesTest, WriteAtomicallyThenRead) {
  const std::string path = testing::MakeTempDir("files") + "/f.bin";
  const std::string data("a\0b\nc", 5);
  ASSERT_TRUE(WriteFileAtomically(path, data).ok());
  auto back = ReadFile(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
}

TEST(FilesTest, ReadMissingFileNamesThePath) {
  auto r = ReadFile("/nonexistent/dx/file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/dx/file"),
            std::string::npos);
}

}  // namespace
}  // namespace dx
