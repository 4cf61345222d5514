#include "i18n/catalogue.h"

#include <algorithm>
#include <cstdlib>

#include "i18n/internal/entries.h"

namespace dx::i18n {
namespace {

const internal::Entry* Find(std::string_view key) {
  const internal::Entry* begin = internal::kEntries;
  const internal::Entry* end = begin + internal::kEntryCount;
  const internal::Entry* it = std::lower_bound(
      begin, end, key,
      [](const internal::Entry& e, std::string_view k) { return e.key < k; });
  return it != end && it->key == key ? it : nullptr;
}

}  // namespace

std::string_view Tag(Lang lang) { return lang == Lang::kVi ? "vi-VN" : "en"; }

Lang FromLocaleName(std::string_view locale) {
  // "vi", "vi_VN", "vi_VN.UTF-8", "vi_VN@euro": the language is what comes
  // before the first '_', '.', '@' or '-'.
  const size_t end = locale.find_first_of("_.@-");
  const std::string_view language = locale.substr(0, end);
  return language == "vi" ? Lang::kVi : Lang::kEn;
}

Lang FromEnvironment() {
  for (const char* name : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') return FromLocaleName(value);
  }
  return Lang::kEn;
}

bool Has(std::string_view key) { return Find(key) != nullptr; }

std::string_view Raw(Lang lang, std::string_view key) {
  const internal::Entry* e = Find(key);
  if (e == nullptr) return {};
  return lang == Lang::kVi ? e->vi : e->en;
}

std::string Text(Lang lang, std::string_view key, const Args& args) {
  const internal::Entry* e = Find(key);
  if (e == nullptr) return std::string(key);
  std::string_view text = lang == Lang::kVi ? e->vi : e->en;
  // A text missing in one language falls back to English rather than
  // showing nothing (catalogue_test keeps this from shipping).
  if (text.empty()) text = e->en;
  std::string out;
  out.reserve(text.size());
  // One pass over the template: a value is copied, never scanned again, so
  // a value holding "{x}" stays as the caller gave it.
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      const size_t close = text.find('}', i);
      if (close != std::string_view::npos) {
        const std::string_view name = text.substr(i + 1, close - i - 1);
        auto it = std::find_if(args.begin(), args.end(),
                               [&](const auto& a) { return a.first == name; });
        if (it != args.end()) {
          out += it->second;
          i = close + 1;
          continue;
        }
      }
    }
    out += text[i++];
  }
  return out;
}

std::vector<std::string_view> Keys() {
  std::vector<std::string_view> keys;
  keys.reserve(internal::kEntryCount);
  for (int i = 0; i < internal::kEntryCount; ++i) {
    keys.push_back(internal::kEntries[i].key);
  }
  return keys;
}

}  // namespace dx::i18n
