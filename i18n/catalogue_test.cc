// The catalogue: every key in both languages, the same placeholders in
// each, the locale rules dxctl follows, and interpolation.
// (tests/i18n_catalogue_test.py checks the JSON files themselves and that
// every key the console and the C++ code name is in them.)
#include "i18n/catalogue.h"

#include <cstdlib>
#include <set>
#include <string>

#include "gtest/gtest.h"

namespace dx::i18n {
namespace {

// The names in {name}: lower-case letters and underscores between braces.
// (Not std::regex: GCC 12 warns inside it under -fsanitize=address, and
// the build has -Werror.)
std::set<std::string> Placeholders(std::string_view text) {
  std::set<std::string> out;
  for (size_t open = text.find('{'); open != std::string_view::npos;
       open = text.find('{', open + 1)) {
    size_t end = open + 1;
    while (end < text.size() &&
           ((text[end] >= 'a' && text[end] <= 'z') || text[end] == '_')) {
      ++end;
    }
    if (end > open + 1 && end < text.size() && text[end] == '}') {
      out.insert(std::string(text.substr(open + 1, end - open - 1)));
    }
  }
  return out;
}

TEST(CatalogueTest, EveryKeyHasItsTextInBothLanguagesWithTheSamePlaceholders) {
  const auto keys = Keys();
  ASSERT_GT(keys.size(), 50u);
  for (std::string_view key : keys) {
    SCOPED_TRACE(std::string(key));
    // Found by the lookup (the generated table is sorted as it searches).
    EXPECT_TRUE(Has(key));
    EXPECT_FALSE(Raw(Lang::kEn, key).empty()) << "missing in en.json";
    EXPECT_FALSE(Raw(Lang::kVi, key).empty()) << "missing in vi.json";
    EXPECT_EQ(Placeholders(Raw(Lang::kEn, key)),
              Placeholders(Raw(Lang::kVi, key)));
  }
}

TEST(CatalogueTest, VietnameseIsWrittenWithItsDiacritics) {
  // A catalogue typed without diacritics ("Tu choi") would pass the key
  // check; the words the brief names must be the real ones.
  EXPECT_EQ(Raw(Lang::kVi, "console.decision.DECISION_DENY"), "từ chối");
  EXPECT_EQ(Raw(Lang::kVi, "console.nav.audit"), "Nhật ký kiểm toán");
}

TEST(CatalogueTest, LocaleNamesPickTheLanguage) {
  EXPECT_EQ(FromLocaleName("vi_VN.UTF-8"), Lang::kVi);
  EXPECT_EQ(FromLocaleName("vi_VN"), Lang::kVi);
  EXPECT_EQ(FromLocaleName("vi"), Lang::kVi);
  EXPECT_EQ(FromLocaleName("vi-VN"), Lang::kVi);
  EXPECT_EQ(FromLocaleName("C.UTF-8"), Lang::kEn);
  EXPECT_EQ(FromLocaleName("en_US.UTF-8"), Lang::kEn);
  EXPECT_EQ(FromLocaleName(""), Lang::kEn);
  EXPECT_EQ(FromLocaleName("vie"), Lang::kEn);
}

TEST(CatalogueTest, TheEnvironmentIsReadAsGettextDoes) {
  setenv("LANG", "vi_VN.UTF-8", 1);
  setenv("LC_MESSAGES", "", 1);
  unsetenv("LC_ALL");
  EXPECT_EQ(FromEnvironment(), Lang::kVi);
  setenv("LC_MESSAGES", "en_US.UTF-8", 1);
  EXPECT_EQ(FromEnvironment(), Lang::kEn);
  setenv("LC_ALL", "vi_VN.UTF-8", 1);
  EXPECT_EQ(FromEnvironment(), Lang::kVi);
  unsetenv("LC_ALL");
  unsetenv("LC_MESSAGES");
  unsetenv("LANG");
  EXPECT_EQ(FromEnvironment(), Lang::kEn);
}

TEST(CatalogueTest, PlaceholdersAreFilledOnceAndAMissingKeyShowsItself) {
  EXPECT_EQ(Text(Lang::kVi, "refusal.overloaded", {{"max", "{max}"}}),
            "Cổng kết nối đang xử lý tối đa {max} giao dịch cùng lúc; hãy thử "
            "lại sau giây lát bằng một yêu cầu mới.");
  EXPECT_EQ(Text(Lang::kEn, "refusal.overloaded", {{"max", "8"}}),
            "The gateway is at its limit of 8 exchanges in flight; retry in a "
            "moment with a new request.");
  EXPECT_EQ(Text(Lang::kVi, "no.such.key"), "no.such.key");
  EXPECT_FALSE(Has("no.such.key"));
  EXPECT_EQ(Tag(Lang::kVi), "vi-VN");
  EXPECT_EQ(Tag(Lang::kEn), "en");
}

}  // namespace
}  // namespace dx::i18n
