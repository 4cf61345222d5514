// The message catalogue: one text per key and language, read from
// i18n/en.json and i18n/vi.json (built into the binary; the console serves
// the same files to the browser). Refusals' LocalizedMessages and dxctl's
// messages take their words from here. Immutable; thread-safe.
#ifndef DX_I18N_CATALOGUE_H_
#define DX_I18N_CATALOGUE_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dx::i18n {

enum class Lang { kEn, kVi };

// The BCP 47 tag a LocalizedMessage carries: "en" or "vi-VN".
std::string_view Tag(Lang lang);

// A POSIX locale name ("vi_VN.UTF-8", "vi", "C.UTF-8") as a language:
// Vietnamese when it names vi, English otherwise.
Lang FromLocaleName(std::string_view locale);
// The language of the messages by the environment, as gettext decides it:
// the first of LC_ALL, LC_MESSAGES, LANG that is set and not empty.
Lang FromEnvironment();

// Values for the {name} placeholders of a text.
using Args = std::vector<std::pair<std::string, std::string>>;

// The text of `key` in `lang`; false when the catalogue has no such key.
bool Has(std::string_view key);
// The text of `key` in `lang` with each {name} of `args` replaced (a value
// is inserted as it is, never read for placeholders itself). A key the
// catalogue lacks gives the key itself, so a missing entry shows, not a
// blank.
std::string Text(Lang lang, std::string_view key, const Args& args = {});

// Every key, sorted; and its text in each language (empty when missing:
// catalogue_test fails on that).
std::vector<std::string_view> Keys();
std::string_view Raw(Lang lang, std::string_view key);

}  // namespace dx::i18n

#endif  // DX_I18N_CATALOGUE_H_
