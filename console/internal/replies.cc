#include "console/internal/replies.h"

#include <google/protobuf/util/json_util.h>
#include <openssl/crypto.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace dx::console::internal {

namespace pb = google::protobuf;

std::string JsonObject(
    std::initializer_list<std::pair<const char*, std::string>> fields) {
  pb::Struct s;
  for (const auto& [k, v] : fields)
    (*s.mutable_fields())[k].set_string_value(v);
  std::string out;
  (void)pb::util::MessageToJsonString(s, &out);
  return out;
}

void SendJson(http::Response& res, int status, const std::string& body) {
  res.status = status;
  res.SetContent(body, "application/json; charset=utf-8");
}

void SendError(http::Response& res, int status, const char* code,
               const std::string& message) {
  SendJson(res, status, JsonObject({{"code", code}, {"message", message}}));
}

// A JSON object body, or false.
bool ParseBody(const http::Request& req, pb::Struct* out) {
  return pb::util::JsonStringToMessage(req.body, out).ok();
}

// Whether the body is declared JSON ("application/json", any parameters).
bool IsJson(const http::Request& req) {
  const std::string type = req.Header("Content-Type");
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(
             absl::string_view(type).substr(0, type.find(';')))) ==
         "application/json";
}

std::string Field(const pb::Struct& s, const char* key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end() || !it->second.has_string_value()) return "";
  return it->second.string_value();
}

std::string CookieOf(const http::Request& req, absl::string_view name) {
  const std::string cookies = req.Header("Cookie");
  for (absl::string_view part : absl::StrSplit(cookies, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) {
      return std::string(part);
    }
  }
  return "";
}

bool SameSecret(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size() &&
         CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RoleOf(const certs::Principal& who) {
  return certs::PrincipalKindName(who.kind);
}

}  // namespace dx::console::internal
