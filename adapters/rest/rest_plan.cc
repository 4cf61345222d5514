#include "adapters/rest/rest_plan.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "common/utf8.h"

namespace dx::adapters {
namespace {

constexpr size_t kMaxValueBytes = 1024;

// The {key} placeholders of a URL template, in order.
std::vector<std::string> Placeholders(absl::string_view url) {
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = url.find('{', at)) != absl::string_view::npos) {
    const size_t end = url.find('}', at);
    if (end == absl::string_view::npos) break;
    out.emplace_back(url.substr(at + 1, end - at - 1));
    at = end + 1;
  }
  return out;
}

}  // namespace

std::string PercentEncode(absl::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string OriginOf(absl::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return "";
  const std::string scheme = absl::AsciiStrToLower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return "";
  absl::string_view rest = url.substr(scheme_end + 3);
  const size_t end = rest.find_first_of("/?#");
  const absl::string_view authority = rest.substr(0, end);
  if (authority.empty() || absl::StrContains(authority, '@') ||
      absl::StrContains(authority, '{') || absl::StrContains(authority, '\\')) {
    return "";  // no user info, no placeholder in the host
  }
  return absl::StrCat(scheme, "://", absl::AsciiStrToLower(authority));
}

absl::StatusOr<RestPlan> RestPlan::Compile(const v1::RestDataset& dataset) {
  RestPlan plan;
  plan.config_ = dataset;
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset '", dataset.dataset_id(), "': ", what));
  };
  if (dataset.dataset_id().empty()) {
    return absl::InvalidArgumentError("a dataset without dataset_id");
  }
  plan.origin_ = OriginOf(dataset.url());
  if (plan.origin_.empty()) {
    return bad(absl::StrCat("url '", dataset.url(),
                            "' is not an http or https URL with a fixed host"));
  }
  const std::string& method = dataset.method();
  if (!method.empty() && method != "GET" && method != "POST") {
    return bad(absl::StrCat("method '", method, "': use GET or POST"));
  }
  for (const std::string& p : Placeholders(dataset.url())) {
    auto it = std::find_if(
        dataset.query_keys().begin(), dataset.query_keys().end(),
        [&p](const v1::RestDataset::QueryKey& k) { return k.key() == p; });
    if (it == dataset.query_keys().end()) {
      return bad(absl::StrCat("url placeholder {", p,
                              "} is not one of the query_keys"));
    }
    if (!it->required()) {
      return bad(absl::StrCat("query key '", p,
                              "' fills the URL, so it must be required"));
    }
  }
  if (dataset.fields().empty()) return bad("no fields");
  for (const auto& f : dataset.fields()) {
    if (f.name().empty()) return bad("a field without a name");
    if (!f.pointer().empty() && f.pointer()[0] != '/') {
      return bad(absl::StrCat("field '", f.name(), "': pointer '", f.pointer(),
                              "' must start with /"));
    }
  }
  if (!dataset.records_pointer().empty() &&
      dataset.records_pointer()[0] != '/') {
    return bad("records_pointer must be empty or start with /");
  }
  if (!dataset.paging().next_pointer().empty() &&
      !dataset.paging().page_param().empty()) {
    return bad("paging: next_pointer or page_param, not both");
  }
  return plan;
}

absl::StatusOr<FieldPointers> ResolveFields(
    const v1::RestDataset& dataset,
    const google::protobuf::RepeatedPtrField<std::string>& names) {
  FieldPointers out;
  auto pointer_of = [](const v1::RestDataset::Field& f) {
    return f.pointer().empty() ? absl::StrCat("/", f.name()) : f.pointer();
  };
  if (names.empty()) {
    for (const auto& f : dataset.fields()) {
      out.names.push_back(f.name());
      out.pointers.push_back(pointer_of(f));
    }
    return out;
  }
  for (const std::string& name : names) {
    auto it = std::find_if(
        dataset.fields().begin(), dataset.fields().end(),
        [&name](const v1::RestDataset::Field& f) { return f.name() == name; });
    if (it == dataset.fields().end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field '", name, "' in dataset ", dataset.dataset_id()));
    }
    out.names.push_back(name);
    out.pointers.push_back(pointer_of(*it));
  }
  return out;
}

absl::StatusOr<RestCall> RestPlan::Build(
    const v1::AdapterRequest& request) const {
  RestCall call;
  call.method = config_.method().empty() ? "GET" : config_.method();
  DX_ASSIGN_OR_RETURN(FieldPointers fields,
                      ResolveFields(config_, request.fields()));
  call.fields = std::move(fields.names);
  call.pointers = std::move(fields.pointers);
  std::vector<std::pair<std::string, std::string>> query(
      request.query().begin(), request.query().end());
  std::sort(query.begin(), query.end());
  const std::vector<std::string> placeholders = Placeholders(config_.url());
  std::vector<std::pair<std::string, std::string>> replacements;
  std::vector<std::string> params;
  nlohmann::json body = nlohmann::json::object();
  for (const auto& [key, value] : query) {
    auto it =
        std::find_if(config_.query_keys().begin(), config_.query_keys().end(),
                     [&key = key](const v1::RestDataset::QueryKey& k) {
                       return k.key() == key;
                     });
    if (it == config_.query_keys().end()) {
      std::vector<std::string> accepted;
      for (const auto& k : config_.query_keys()) accepted.push_back(k.key());
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown query key '", key, "' for dataset ", config_.dataset_id(),
          "; it accepts: ",
          accepted.empty() ? "none" : absl::StrJoin(accepted, ", ")));
    }
    if (value.size() > kMaxValueBytes || absl::StrContains(value, '\0') ||
        !IsValidUtf8(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "query key '", key, "': the value must be UTF-8 text of at most ",
          kMaxValueBytes, " bytes with no NUL character"));
    }
    if (std::find(placeholders.begin(), placeholders.end(), key) !=
        placeholders.end()) {
      // Encoded, these stay "", "." and "..": an empty segment or a dot
      // segment that an HTTP client or the service resolves into another
      // path ("/v1/taxpayers/.." is "/v1/").
      if (value.empty() || value == "." || value == "..") {
        return absl::InvalidArgumentError(absl::StrCat(
            "query key '", key, "' fills a path segment of the service's URL: ",
            "it must not be empty, '.' or '..'"));
      }
      replacements.emplace_back(absl::StrCat("{", key, "}"),
                                PercentEncode(value));
      continue;
    }
    const std::string& param = it->param().empty() ? key : it->param();
    if (call.method == "POST") {
      body[param] = value;
    } else {
      params.push_back(
          absl::StrCat(PercentEncode(param), "=", PercentEncode(value)));
    }
  }
  for (const auto& k : config_.query_keys()) {
    if (k.required() &&
        request.query().find(k.key()) == request.query().end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query key '", k.key(), "' is required for dataset ",
                       config_.dataset_id()));
    }
  }
  // Each placeholder is replaced in one pass, so a value holding "{x}" (it
  // is encoded anyway) cannot be expanded again.
  call.url = absl::StrReplaceAll(config_.url(), replacements);
  if (!params.empty()) {
    absl::StrAppend(&call.url, absl::StrContains(call.url, '?') ? "&" : "?",
                    absl::StrJoin(params, "&"));
  }
  if (call.method == "POST") call.body = body.dump();
  return call;
}

std::string RestPlan::PageUrl(const RestCall& call, uint32_t page) const {
  return absl::StrCat(call.url, absl::StrContains(call.url, '?') ? "&" : "?",
                      PercentEncode(config_.paging().page_param()), "=", page);
}

absl::StatusOr<std::string> RestPlan::NextUrl(const RestCall& call,
                                              absl::string_view next) const {
  (void)call;
  std::string url = absl::StartsWith(next, "/") && !absl::StartsWith(next, "//")
                        ? absl::StrCat(origin_, next)
                        : std::string(next);
  if (OriginOf(url) != origin_ || absl::StrContains(url, '\0')) {
    return absl::FailedPreconditionError(
        absl::StrCat("the provider's next-page link leaves ", origin_,
                     " (it is not followed): ", next.substr(0, 200)));
  }
  return url;
}

}  // namespace dx::adapters

namespace dx::adapters {

absl::Status CheckHeaderLine(absl::string_view name, absl::string_view value) {
  if (name.empty())
    return absl::InvalidArgumentError("a header without a name");
  for (unsigned char c : name) {
    // RFC 9110 token characters only.
    if (!(absl::ascii_isalnum(c) ||
          absl::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
              absl::string_view::npos)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "header name '", name,
          "' holds a character that is not allowed in a header name"));
    }
  }
  for (unsigned char c : value) {
    // A CR or LF would end the line and start another header (or the
    // body) at the provider; other control characters are refused too.
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("the value of header ", name,
                       c == '\r' || c == '\n' ? " holds a line break (CR or LF)"
                                              : " holds a control character",
                       "; it would change the request sent to the provider"));
    }
  }
  return absl::OkStatus();
}

}  // namespace dx::adapters
