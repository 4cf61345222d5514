#include "cli/refusal_output.h"

#include <grpcpp/support/status.h>

#include "absl/strings/str_cat.h"
#include "cli/agency_client.h"
#include "common/bytes.h"

namespace dx::cli {
namespace {

// Display columns of UTF-8 text: one per code point (Vietnamese letters
// with their diacritics are single code points in NFC).
size_t Columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// "  reason:       " in English; a longer label keeps one space.
std::string Label(i18n::Lang lang, const char* key) {
  std::string label = absl::StrCat(i18n::Text(lang, key), ":");
  const size_t width = Columns(label);
  return absl::StrCat("  ", label,
                      std::string(width < 14 ? 14 - width : 1, ' '));
}

}  // namespace

std::string FormatRefusal(const grpc::Status& s, i18n::Lang lang) {
  std::string out = absl::StrCat(i18n::Text(lang, "dxctl.refused"), "  ",
                                 GrpcCodeName(s.error_code()), ": ");
  const std::optional<std::string> localized =
      lang == i18n::Lang::kEn ? std::nullopt : LocalizedMessageOf(s, "vi");
  if (localized.has_value()) {
    absl::StrAppend(&out, *localized, "\n", Label(lang, "dxctl.server_message"),
                    s.error_message(), "\n");
  } else {
    absl::StrAppend(&out, s.error_message(), "\n");
  }
  if (auto d = ErrorDetailOf(s)) {
    absl::StrAppend(&out, Label(lang, "dxctl.reason"),
                    v1::ReasonCode_Name(d->reason()), "\n");
    if (!d->legal_basis().empty()) {
      absl::StrAppend(&out, Label(lang, "dxctl.legal_basis"), d->legal_basis(),
                      "\n");
    }
    if (!d->policy_rule_id().empty()) {
      absl::StrAppend(&out, Label(lang, "dxctl.policy_rule"),
                      d->policy_rule_id(), "\n");
    }
    if (!d->platform_id().empty()) {
      absl::StrAppend(&out, Label(lang, "dxctl.refused_by_platform"),
                      d->platform_id(), "\n");
    }
    if (d->has_receipt()) {
      absl::StrAppend(&out, Label(lang, "dxctl.audit_record"), "#",
                      d->receipt().sequence_number(), " leaf ",
                      HexEncode(d->receipt().record_hash()), "\n");
    }
  }
  return out;
}

}  // namespace dx::cli
