// The generated table behind i18n/catalogue.h (catalogue_data.cc, written
// by embed_catalogue.cmake), sorted by key.
#ifndef DX_I18N_INTERNAL_ENTRIES_H_
#define DX_I18N_INTERNAL_ENTRIES_H_

#include <string_view>

namespace dx::i18n::internal {

struct Entry {
  std::string_view key;
  std::string_view en;
  std::string_view vi;
};

extern const Entry kEntries[];
extern const int kEntryCount;

}  // namespace dx::i18n::internal

#endif  // DX_I18N_INTERNAL_ENTRIES_H_
