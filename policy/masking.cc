#include "policy/masking.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "certs/crypto.h"
#include "common/files.h"

namespace dx::policy {

std::string MaskKeyFor(absl::string_view gateway_secret,
                       absl::string_view consumer_agency) {
  return certs::HmacSha256(std::string(gateway_secret),
                           absl::StrCat("dx mask key v1\n", consumer_agency));
}

std::string MaskValue(const MaskSpec& spec, absl::string_view value,
                      absl::string_view hash_key) {
  switch (spec.kind) {
    case v1::MASK_KIND_PARTIAL: {
      // Start offsets of each UTF-8 character.
      std::vector<size_t> starts;
      for (size_t i = 0; i < value.size(); ++i) {
        if ((static_cast<unsigned char>(value[i]) & 0xC0) != 0x80)
          starts.push_back(i);
      }
      if (spec.keep_last == 0 || starts.size() <= spec.keep_last) {
        return std::string(starts.size(), '*');
      }
      const size_t hidden = starts.size() - spec.keep_last;
      std::string out(hidden, '*');
      const absl::string_view kept = value.substr(starts[hidden]);
      out.append(kept.data(), kept.size());
      return out;
    }
    case v1::MASK_KIND_HASH:
      return absl::StrCat("h:",
                          HexEncode(certs::HmacSha256(std::string(hash_key),
                                                      std::string(value)))
                              .substr(0, 32));
    default:
      return "***";
  }
}

}  // namespace dx::policy
