#include "cli/policy_cases.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace dx::cli {

absl::StatusOr<int64_t> ParseAt(const std::string& text) {
  if (text.empty()) return 0;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--at '", text, "' is not RFC 3339 (", err, ")"));
  }
  return absl::ToUnixMicros(t);
}

v1::ExplainRequest ExplainRequestOf(const v1::PolicyTestCase& c,
                                    int64_t at_micros) {
  v1::ExplainRequest r;
  r.set_consumer_agency(c.agency());
  r.set_dataset(c.dataset());
  r.set_purpose_code(c.purpose());
  *r.mutable_fields() = c.fields();
  *r.mutable_query_keys() = c.query();
  r.set_has_data_subject_id(c.with_subject());
  r.set_consent_reference(c.consent());
  r.set_at_unix_micros(at_micros);
  return r;
}

std::string CheckCase(const v1::PolicyTestCase& c,
                      const v1::ExplainResponse& got) {
  std::vector<std::string> wrong;
  const bool want_allow = c.expect() == "allow";
  if (got.allowed() != want_allow) {
    wrong.push_back(absl::StrCat(
        "expected ", c.expect(), ", got ", got.allowed() ? "allow" : "deny",
        got.allowed() ? "" : absl::StrCat(" (", got.message(), ")")));
  }
  if (!c.rule().empty() && got.rule_id() != c.rule()) {
    wrong.push_back(
        absl::StrCat("expected rule ", c.rule(), ", got ", got.rule_id()));
  }
  if (!c.expect_fields().empty() && absl::StrJoin(c.expect_fields(), ",") !=
                                        absl::StrJoin(got.fields(), ",")) {
    wrong.push_back(absl::StrCat(
        "expected fields [", absl::StrJoin(c.expect_fields(), ", "), "], got [",
        absl::StrJoin(got.fields(), ", "), "]"));
  }
  if (!c.expect_masks().empty() &&
      absl::StrJoin(c.expect_masks(), ",") != absl::StrJoin(got.masks(), ",")) {
    wrong.push_back(
        absl::StrCat("expected masks [", absl::StrJoin(c.expect_masks(), ", "),
                     "], got [", absl::StrJoin(got.masks(), ", "), "]"));
  }
  if (!c.expect_reason().empty()) {
    std::string want = c.expect_reason();
    if (want.rfind("REASON_", 0) != 0) {
      want = "REASON_" + want;
      for (char& ch : want) ch = absl::ascii_toupper(ch);
    }
    if (v1::ReasonCode_Name(got.reason()) != want) {
      wrong.push_back(absl::StrCat("expected reason ", want, ", got ",
                                   v1::ReasonCode_Name(got.reason())));
    }
  }
  return absl::StrJoin(wrong, "; ");
}

}  // namespace dx::cli
