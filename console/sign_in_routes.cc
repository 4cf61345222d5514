// The console's sign-in endpoints (CONSOLE.md#signing-in): a person's
// signed challenge, the one-time code that turns it into a session in a
// browser, and a session from the TLS client certificate; each failure is
// refused and audited through ConsoleServer::Refuse.
#include <google/protobuf/struct.pb.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "certs/crypto.h"
#include "console/console_server.h"
#include "console/internal/replies.h"
#include "console/sign_in.h"

namespace dx::console {

namespace pb = google::protobuf;
using internal::CookieOf;
using internal::Field;
using internal::JsonObject;
using internal::kCookie;
using internal::ParseBody;
using internal::RoleOf;
using internal::SendError;
using internal::SendJson;

void ConsoleServer::StartSession(const Session& s, http::Response& res) {
  res.SetHeader(

      "Set-Cookie",
      absl::StrCat(kCookie, "=", s.id,
                   "; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=",
                   absl::ToInt64Seconds(options_.session_max)));
  SendJson(res, 200,
           JsonObject({{"csrf_token", s.csrf_token},
                       {"actor", certs::ActorName(s.who)},
                       {"role", RoleOf(s.who)}}));
}
void ConsoleServer::SignIn(const http::Request& req, http::Response& res) {
  pb::Struct body;
  if (!ParseBody(req, &body)) {
    SendError(res, 400, "INVALID_ARGUMENT",
              "send JSON: {challenge, certificate_pem, signature (base64 "
              "DER)}");
    return;
  }
  SignInAttempt attempt;
  attempt.challenge = Field(body, "challenge");
  attempt.certificate_pem = Field(body, "certificate_pem");
  if (!absl::Base64Unescape(Field(body, "signature"), &attempt.signature_der)) {
    attempt.signature_der.clear();
  }
  std::string claimed;
  auto who = VerifySignIn(options_.trust, &sessions_, attempt, &claimed);
  if (!who.ok()) {
    std::string sha;
    if (auto cert = certs::ParseCertificatePem(attempt.certificate_pem);
        cert.ok()) {
      sha = certs::CertificateFingerprint(cert->get());
    }
    const bool denied =
        who.status().code() == absl::StatusCode::kPermissionDenied;
    Refuse(req, res, denied ? 403 : 401, claimed, denied, sha,
           std::string(who.status().message()));
    return;
  }
  const std::string code =
      sessions_.NewSignInCode(attempt.certificate_pem, *who);
  SendJson(res, 200,
           JsonObject({{"code", code},
                       {"url", absl::StrCat(public_url_, "/#sign-in=", code)},
                       {"actor", certs::ActorName(*who)}}));
}

void ConsoleServer::RedeemCode(const http::Request& req, http::Response& res) {
  pb::Struct body;
  if (!ParseBody(req, &body)) {
    SendError(res, 400, "INVALID_ARGUMENT", "send JSON: {code}");
    return;
  }
  // A sign-in link opened in a browser where someone is signed in is
  // asked about first (the page asks the person, then sends replace:
  // true), so that a link cannot swap the session under them unnoticed.
  // The code stays unspent until then.
  auto replace = body.fields().find("replace");
  const bool replacing = replace != body.fields().end() &&
                         replace->second.has_bool_value() &&
                         replace->second.bool_value();
  const std::string cookie = CookieOf(req, kCookie);
  absl::StatusOr<Session> current =
      cookie.empty() ? absl::StatusOr<Session>(absl::NotFoundError("none"))
                     : sessions_.Touch(cookie);
  if (current.ok() && !replacing) {
    const std::string actor = certs::ActorName(current->who);
    SendJson(res, 409,
             JsonObject({{"code", "SESSION_EXISTS"},
                         {"actor", actor},
                         {"message",
                          absl::StrCat("this browser is signed in as ", actor,
                                       ": confirm to sign in with the "
                                       "link instead")}}));
    return;
  }
  auto session = sessions_.Redeem(Field(body, "code"));
  if (!session.ok()) {
    Refuse(req, res, 401, "", false, "",
           std::string(session.status().message()));
    return;
  }
  if (current.ok()) {
    sessions_.End(current->id);
    if (options_.recorder != nullptr) {
      (void)options_.recorder->Record(
          certs::ActorName(current->who), "console.sign-out",
          absl::StrCat("signed out: ", certs::ActorName(session->who),
                       " signed in with a link in the same browser"));
    }
  }
  if (options_.recorder != nullptr) {
    (void)options_.recorder->Record(certs::ActorName(session->who),
                                    "console.sign-in",
                                    "signed in with a signed challenge");
  }
  StartSession(*session, res);
}

void ConsoleServer::CertificateSession(const http::Request& req,
                                       http::Response& res) {
  const std::string& pem = req.peer_certificate_pem;
  if (pem.empty()) {
    Refuse(req, res, 401, "", false, "",
           "the browser sent no client certificate: import your dx "
           "person certificate, or sign in with `dxctl console login`");
    return;
  }
  certs::CertVerdict v = options_.trust->VerifyPem(pem);
  const std::string claimed =
      v.ok() ? certs::ActorName(v.cert->principal)
             : (v.claimed ? certs::ActorName(*v.claimed) : "");
  if (!v.ok() || !IsPerson(v.cert->principal.kind)) {
    Refuse(req, res, v.ok() ? 403 : 401, claimed, v.ok(), v.claimed_fingerprint,
           v.ok()
               ? "only people sign in to the console"
               : absl::StrCat("the certificate does not verify: ", v.message));
    return;
  }
  const std::string code = sessions_.NewSignInCode(pem, v.cert->principal);
  auto session = sessions_.Redeem(code);
  if (!session.ok()) {
    SendError(res, 503, "UNAVAILABLE", "no session could be made");
    return;
  }
  if (options_.recorder != nullptr) {
    (void)options_.recorder->Record(claimed, "console.sign-in",
                                    "signed in with a TLS client certificate");
  }
  StartSession(*session, res);
}

}  // namespace dx::console
