#include "common/visible_text.h"

#include <string>

#include "gtest/gtest.h"

namespace dx {
namespace {

TEST(VisibleTextTest, KeepsOrdinaryTextIncludingVietnamese) {
  EXPECT_EQ(VisibleText("tra cứu hộ tịch 000.00.00.H30"),
            "tra cứu hộ tịch 000.00.00.H30");
  EXPECT_EQ(VisibleText(""), "");
}

TEST(VisibleTextTest, ShowsEveryBidiControl) {
  // U+202E RIGHT-TO-LEFT OVERRIDE makes "gpj.exe" read "exe.jpg".
  EXPECT_EQ(VisibleText("a\u202Egpj.exe"), "a<U+202E>gpj.exe");
  for (char32_t cp : {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067,
                      0x2068, 0x2069, 0x200E, 0x200F, 0x061C}) {
    EXPECT_TRUE(IsHiddenCodePoint(cp)) << std::hex << cp;
  }
  EXPECT_EQ(VisibleText("\u2066x\u2069\u200E\u200F\u061C"),
            "<U+2066>x<U+2069><U+200E><U+200F><U+061C>");
}

TEST(VisibleTextTest, ShowsZeroWidthCharacters) {
  EXPECT_EQ(VisibleText("H\u200B3\u200C0\u200D\u2060\uFEFF"),
            "H<U+200B>3<U+200C>0<U+200D><U+2060><U+FEFF>");
}

TEST(VisibleTextTest, ShowsControlsThatForgeLinesOrDriveTerminals) {
  EXPECT_EQ(VisibleText("ok\nALLOW"), "ok<U+000A>ALLOW");
  EXPECT_EQ(VisibleText("\x1b[2J"), "<U+001B>[2J");
  EXPECT_EQ(VisibleText("a\u2028b\x7f"), "a<U+2028>b<U+007F>");
  EXPECT_EQ(VisibleText("\u0085"), "<U+0085>");
}

TEST(VisibleTextTest, ShowsBytesThatAreNotUtf8) {
  EXPECT_EQ(VisibleText("a\xff"), "a<0xFF>");
  // Cut short, overlong and a surrogate.
  EXPECT_EQ(VisibleText("\xe2\x80"), "<0xE2><0x80>");
  EXPECT_EQ(VisibleText("\xc0\xaf"), "<0xC0><0xAF>");
  EXPECT_EQ(VisibleText("\xed\xa0\x80"), "<0xED><0xA0><0x80>");
  EXPECT_EQ(VisibleText(std::string("a\0b", 3)), "a<U+0000>b");
}

TEST(VisibleTextTest, ShowsOtherInvisibleCharactersAndTagSmuggling) {
  EXPECT_EQ(VisibleText("H\u00AD30\u3164\u180E"),
            "H<U+00AD>30<U+3164><U+180E>");
  // Tag characters spell hidden ASCII ("hi") that some readers pass on.
  EXPECT_EQ(VisibleText("ok\U000E0068\U000E0069"), "ok<U+E0068><U+E0069>");
}

TEST(VisibleTextTest, KeepsOtherNonAsciiAndAstralCharacters) {
  EXPECT_EQ(VisibleText("\u00e9\u4e2d\U0001F600"), "\u00e9\u4e2d\U0001F600");
  EXPECT_FALSE(IsHiddenCodePoint(0x200A));  // hair space: visible width
  EXPECT_FALSE(IsHiddenCodePoint(0x2065));  // unassigned
}

}  // namespace

// A claimed agency code with a Cyrillic or Greek look-alike letter, or a
// full-width digit, is shown with that letter named: it cannot read as the
// agency it imitates. Plain codes are unchanged.
TEST(VisibleCodeTest, NamesEveryLetterPastAscii) {
  EXPECT_EQ(VisibleCode("000.00.00.H30"), "000.00.00.H30");
  EXPECT_EQ(VisibleCode("000.00.00.\u041D30"), "000.00.00.<U+041D>30");
  EXPECT_EQ(VisibleCode("000.00.00.\u039730"), "000.00.00.<U+0397>30");
  EXPECT_EQ(VisibleCode("000.00.00.H\uFF130"), "000.00.00.H<U+FF13>0");
  EXPECT_EQ(VisibleCode("H30\u202E\xff"), "H30<U+202E><0xFF>");
  EXPECT_NE(VisibleCode("000.00.00.\u041D30"), VisibleCode("000.00.00.H30"));
}

}  // namespace dx
