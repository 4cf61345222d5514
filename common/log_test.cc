#include "common/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace dx {
namespace {

TEST(LogTest, TextLineNamesTheComponentAndFields) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, "dxgate", "info", "serving",
                          {{"port", 8443}, {"node", "gw1"}}),
            "dxgate: serving port=8443 node=gw1");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, "dxgate", "error", "disk full", {}),
            "dxgate: error: disk full");
  // A value that could end the field or the line is quoted and escaped.
  EXPECT_EQ(
      FormatLogLine(LogFormat::kText, "dxgate", "info", "refused",
                    {{"request_id", "x\ndxgate: forged ok=1"}, {"e", ""}}),
      "dxgate: refused request_id=\"x\\ndxgate: forged ok=1\" e=\"\"");
}

TEST(LogTest, LogFormatIsTextOrJson) {
  EXPECT_EQ(ParseLogFormat("").value(), LogFormat::kText);
  EXPECT_EQ(ParseLogFormat("text").value(), LogFormat::kText);
  EXPECT_EQ(ParseLogFormat("json").value(), LogFormat::kJson);
  const absl::Status bad = ParseLogFormat("JSON ").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(),
            "log_format must be \"text\" or \"json\", not \"JSON \"");
}

TEST(LogTest, JsonLineParsesWithTypedFields) {
  const std::string line =
      FormatLogLine(LogFormat::kJson, "dxgate", "warning", "exchange refused",
                    {{"request_id", "r-1"}, {"audit_sequence", int64_t{42}}});
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["component"], "dxgate");
  EXPECT_EQ(j["msg"], "exchange refused");
  EXPECT_EQ(j["request_id"], "r-1");
  EXPECT_EQ(j["audit_sequence"], 42);
  EXPECT_TRUE(j["time"].get<std::string>().find('T') != std::string::npos);
}

TEST(LogTest, HostileTextStaysOneValidJsonLine) {
  const std::string hostile[] = {
      "quote \" backslash \\ end", "new\nline\r\ttab",
      std::string("nul\0x", 5),    "\x7f del",
      "\xff\xfe not utf-8",        "\xc0\xaf overlong",
      "\xed\xa0\x80 surrogate",    "truncated \xe1\xba",
      "Nguyễn Văn A 日本 😀",       "</script><script>alert(1)</script>"};
  for (const std::string& h : hostile) {
    const std::string line =
        FormatLogLine(LogFormat::kJson, "dxgate", "info", h, {{h, h}});
    EXPECT_EQ(line.find('\n'), std::string::npos) << h;
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(line)) << line;
    // Valid UTF-8 comes back as it was; the rest is replaced, not dropped.
    if (h.rfind("Nguy", 0) == 0 || h.rfind("quote", 0) == 0 ||
        h.rfind("new", 0) == 0 || h.rfind("nul", 0) == 0) {
      EXPECT_EQ(j["msg"], h);
    }
  }
  EXPECT_EQ(JsonQuote("\xff"), "\"\xEF\xBF\xBD\"");
}

}  // namespace
}  // namespace dx
