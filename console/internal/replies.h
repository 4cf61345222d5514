// The console's small reply and request helpers, shared by its routes
// (console_server.cc) and its sign-in endpoints (sign_in_routes.cc): JSON
// answers and errors, the JSON body, the session cookie, a constant-time
// secret comparison. Internal to console/.
#ifndef DX_CONSOLE_INTERNAL_REPLIES_H_
#define DX_CONSOLE_INTERNAL_REPLIES_H_

#include <google/protobuf/struct.pb.h>

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "certs/identity.h"
#include "http/server.h"

namespace dx::console::internal {

inline constexpr char kCookie[] = "__Host-dx_session";
inline constexpr char kCsrfHeader[] = "X-DX-CSRF";

// A JSON object of string fields.
std::string JsonObject(
    std::initializer_list<std::pair<const char*, std::string>> fields);

void SendJson(http::Response& res, int status, const std::string& body);

// {code, message} with `status`.
void SendError(http::Response& res, int status, const char* code,
               const std::string& message);

// A JSON object body, or false.
bool ParseBody(const http::Request& req, google::protobuf::Struct* out);

// Whether the body is declared JSON ("application/json", any parameters).
bool IsJson(const http::Request& req);

// The string field `key` of `s`, or "".
std::string Field(const google::protobuf::Struct& s, const char* key);

// The value of cookie `name`, or "".
std::string CookieOf(const http::Request& req, absl::string_view name);

// Equal and not empty, compared in constant time.
bool SameSecret(const std::string& a, const std::string& b);

std::string RoleOf(const certs::Principal& who);

}  // namespace dx::console::internal

#endif  // DX_CONSOLE_INTERNAL_REPLIES_H_
