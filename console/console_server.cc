// ConsoleServer's routes and the checks every request passes (CSRF, Origin,
// JSON only, sessions, refusals recorded within a budget); the sign-in
// endpoints are in sign_in_routes.cc.
#include "console/console_server.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "certs/crypto.h"
#include "common/files.h"
#include "console/assets.h"
#include "console/internal/replies.h"
#include "console/sign_in.h"
#include "http/server.h"

namespace dx::console {
namespace {

using internal::CookieOf;
using internal::IsJson;
using internal::JsonObject;
using internal::kCookie;
using internal::kCsrfHeader;
using internal::RoleOf;
using internal::SameSecret;
using internal::SendError;
using internal::SendJson;

// What every answer says about itself: no script but ours, no framing, no
// sniffing, no referrer, HTTPS only.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'";

}  // namespace

ConsoleServer::ConsoleServer(Options options)
    : options_(std::move(options)),
      sessions_(options_.clock, options_.session_idle, options_.session_max),
      refusals_(options_.clock, kRecordedRefusalsPerMinute, kMaxAddresses),
      bridge_(options_.channel) {}

absl::StatusOr<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(
    Options options) {
  const std::string address = options.listen_address;
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("console listen_address '", address,
                     "' is not host:port (e.g. 127.0.0.1:8444)"));
  }
  const std::string host = address.substr(0, colon);
  std::unique_ptr<ConsoleServer> c(new ConsoleServer(std::move(options)));
  const Options& o = c->options_;
  {
    auto chain = ReadFile(o.cert_file);
    if (!chain.ok()) return chain.status();
    auto key = ReadFile(o.key_file);
    if (!key.ok()) return key.status();
    absl::Status set = c->identity_.Set(
        *chain, *key, absl::StrCat(o.cert_file, " / ", o.key_file));
    if (!set.ok()) return set;
  }
  http::Server::Options so;
  so.listen_address = address;
  so.name = "console";
  so.tls = [identity = &c->identity_](SSL_CTX* ctx) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    identity->InstallOn(ctx);
    // A client certificate is asked for, never required, and accepted at
    // the TLS layer whatever it is: POST /api/session/certificate checks
    // it with the trust store (chain, CRL, a person's identity).
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER,
                       [](int, X509_STORE_CTX*) { return 1; });
    // With peer verification on, OpenSSL refuses to resume a session (the
    // browser's next connections) unless a session id context is set.
    static constexpr unsigned char kSessionContext[] = "dxgate-console";
    SSL_CTX_set_session_id_context(ctx, kSessionContext,
                                   sizeof(kSessionContext) - 1);
    return absl::OkStatus();
  };
  // A policy document fits in a body; a browser opens about six
  // connections, and a few people may share an address behind a proxy.
  so.limits.max_body_bytes = 2 << 20;
  so.limits.max_connections = 256;
  so.limits.max_connections_per_address = 32;
  so.limits.workers = 4;
  so.limits.max_queued = 64;
  ConsoleServer* self = c.get();
  // Only a signed-in person's calls need a large body (a policy document);
  // everything a stranger may send fits in kOpenBodyBytes, so that the
  // connections of strangers hold little memory.
  so.body_limit = [self](const http::Request& head) -> size_t {
    if (absl::StartsWith(head.path, "/api/rpc/") &&
        !self->sessions_.CertificateOf(CookieOf(head, kCookie)).empty()) {
      return 2 << 20;
    }
    return kOpenBodyBytes;
  };
  so.handler = [self](const http::Request& req, http::Response& res) {
    self->Handle(req, res);
  };
  auto server = http::Server::Start(std::move(so));
  if (!server.ok()) return server.status();
  c->server_ = *std::move(server);
  c->port_ = c->server_->port();
  c->public_url_ = c->options_.public_url.empty()
                       ? absl::StrCat("https://", host, ":", c->port_)
                       : c->options_.public_url;
  return c;
}

ConsoleServer::~ConsoleServer() {
  if (server_ != nullptr) {
    server_->Stop();
    bridge_.CancelAll();
    server_.reset();  // waits for the handlers, which now return soon
  }
  for (const authz::RefusalBudget::Count& c : refusals_.Drain()) RecordCount(c);
}

void ConsoleServer::RecordFlood(const std::string& address,
                                std::string detail) {
  if (options_.recorder == nullptr) return;
  authz::CallGate::RefusedCall r;
  r.actor = absl::StrCat("unauthenticated ", address);
  r.action = "console.refused";
  r.detail = std::move(detail);
  r.code = absl::StatusCode::kResourceExhausted;
  options_.recorder->RecordRefusal(r);
}

void ConsoleServer::RecordCount(const authz::RefusalBudget::Count& c) {
  RecordFlood(
      c.address,
      absl::StrCat(
          c.refusals, " more refused request(s) from ", c.address, " from ",
          absl::FormatTime(absl::RFC3339_sec, c.from, absl::UTCTimeZone()),
          " to ",
          absl::FormatTime(absl::RFC3339_sec, c.to, absl::UTCTimeZone()),
          ", counted, not recorded one by one (over ",
          kRecordedRefusalsPerMinute, " a minute from one address)"));
}

void ConsoleServer::Refuse(const http::Request& req, http::Response& res,
                           int code, const std::string& actor, bool verified,
                           const std::string& cert_sha256,
                           const std::string& why) {
  const bool unauthenticated = code == 401;
  authz::RefusalBudget::Verdict budget = refusals_.Take(req.remote_address);
  for (const authz::RefusalBudget::Count& c : budget.due) RecordCount(c);
  if (!budget.record) {
    const std::string until = absl::FormatTime(
        absl::RFC3339_sec, budget.window_end, absl::UTCTimeZone());
    if (budget.first_over) {
      RecordFlood(
          req.remote_address,
          absl::StrCat("over ", kRecordedRefusalsPerMinute,
                       " refused requests a minute from ", req.remote_address,
                       " (the last: ", req.method, " ", req.path, ": ", why,
                       "): its refusals until ", until,
                       " are answered 429 and recorded as one count"));
    }
    const int64_t wait = std::max<int64_t>(
        1, absl::ToInt64Seconds(budget.window_end - options_.clock->Now()));
    res.SetHeader("Retry-After", std::to_string(wait));
    SendError(res, 429, "RESOURCE_EXHAUSTED",
              absl::StrCat("too many refused requests from ",
                           req.remote_address, " (the last: ", why, "); wait ",
                           wait, " s, then sign in again"));
    return;
  }
  if (options_.recorder != nullptr) {
    authz::CallGate::RefusedCall r;
    r.actor = actor.empty()
                  ? absl::StrCat("unauthenticated ", req.remote_address)
                  : actor;
    r.identity_verified = verified;
    r.cert_sha256 = cert_sha256;
    r.action = "console.refused";
    r.detail = absl::StrCat(req.method, " ", req.path, " refused: ", why);
    r.code = unauthenticated ? absl::StatusCode::kUnauthenticated
                             : absl::StatusCode::kPermissionDenied;
    options_.recorder->RecordRefusal(r);
  }
  SendError(res, code,
            unauthenticated ? "UNAUTHENTICATED" : "PERMISSION_DENIED", why);
}

const Session* ConsoleServer::Authenticate(const http::Request& req,
                                           http::Response& res, Session* out) {
  const std::string cookie = CookieOf(req, kCookie);
  absl::StatusOr<Session> s = sessions_.Touch(cookie);
  if (!s.ok()) {
    if (cookie.empty() && req.path == "/api/me") {
      // The page asking whether anyone is signed in, before sign-in: not
      // an attempt at anything, so not recorded.
      SendError(res, 401, "UNAUTHENTICATED", "not signed in");
      return nullptr;
    }
    Refuse(req, res, 401, "", false, "", std::string(s.status().message()));
    return nullptr;
  }
  const std::string actor = certs::ActorName(s->who);
  // A page of ours always sends the token; a form or page of another site
  // cannot read it, and its Origin differs from our Host.
  if (!SameSecret(req.Header(kCsrfHeader), s->csrf_token)) {
    Refuse(req, res, 403, actor, true, "",
           "the request lacks this session's CSRF token (a cross-site "
           "request?)");
    return nullptr;
  }
  const std::string origin = req.Header("Origin");
  if (!OwnOrigin(req, origin)) {
    Refuse(req, res, 403, actor, true, "",
           absl::StrCat("a request from another origin (", origin, ")"));
    return nullptr;
  }
  *out = *std::move(s);
  return out;
}

bool ConsoleServer::OwnOrigin(const http::Request& req,
                              const std::string& origin) const {
  // Absent: not a browser's cross-site request (browsers send it on every
  // cross-origin request and every POST). Ours: the Host the browser
  // connected to, or the configured public address.
  if (origin.empty()) return true;
  return origin == absl::StrCat("https://", req.Header("Host")) ||
         origin == absl::StripSuffix(public_url_, "/");
}

bool ConsoleServer::CheckPublic(const http::Request& req, http::Response& res) {
  const std::string origin = req.Header("Origin");
  if (!OwnOrigin(req, origin)) {
    Refuse(req, res, 403, "", false, "",
           absl::StrCat("a request from another origin (", origin,
                        "): sign in from the console's own pages"));
    return false;
  }
  if (req.method == "POST" && !IsJson(req)) {
    SendError(res, 415, "INVALID_ARGUMENT",
              "send the request as Content-Type: application/json");
    return false;
  }
  return true;
}

void ConsoleServer::Handle(const http::Request& req, http::Response& res) {
  Route(req, res);
  // What every answer says about itself.
  res.SetHeader("Content-Security-Policy", kContentSecurityPolicy);
  res.SetHeader("X-Content-Type-Options", "nosniff");
  res.SetHeader("X-Frame-Options", "DENY");
  res.SetHeader("Referrer-Policy", "no-referrer");
  res.SetHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.SetHeader("Cross-Origin-Resource-Policy", "same-origin");
  res.SetHeader("Strict-Transport-Security", "max-age=31536000");
  res.SetHeader("Cache-Control",
                absl::StartsWith(req.path, "/api/") ? "no-store" : "no-cache");
}

void ConsoleServer::Route(const http::Request& req, http::Response& res) {
  const std::string& path = req.path;
  const bool get = req.method == "GET";
  const bool post = req.method == "POST";
  if (!absl::StartsWith(path, "/api/")) {
    const Asset* a = nullptr;
    if (path == "/") a = FindAsset("/index.html");
    if (absl::StartsWith(path, "/assets/")) a = FindAsset(path);
    if (a == nullptr) {
      SendError(res, 404, "NOT_FOUND", "no such page");
    } else if (!get) {
      res.SetHeader("Allow", "GET");
      SendError(res, 405, "INVALID_ARGUMENT", "pages are read with GET");
    } else {
      res.SetContent(
          std::string(a->body.data(), a->body.size()),
          absl::string_view(a->content_type.data(), a->content_type.size()));
    }
    return;
  }
  // Checked before any parser sees the body: a deep nesting costs the
  // parser time in its square.
  if (post && !http::JsonDepthWithin(req.body, kMaxJsonDepth)) {
    SendError(res, 400, "INVALID_ARGUMENT",
              absl::StrCat("the JSON body nests deeper than ", kMaxJsonDepth,
                           " levels"));
    return;
  }
  if (get && path == "/api/challenge") {
    if (!CheckPublic(req, res)) return;
    SendJson(res, 200, JsonObject({{"challenge", sessions_.NewChallenge()}}));
  } else if (post && path == "/api/sign-in") {
    if (CheckPublic(req, res)) SignIn(req, res);
  } else if (post && path == "/api/session") {
    if (CheckPublic(req, res)) RedeemCode(req, res);
  } else if (post && path == "/api/session/certificate") {
    if (CheckPublic(req, res)) CertificateSession(req, res);
  } else if (get && path == "/api/me") {
    Session session;
    if (Authenticate(req, res, &session) == nullptr) return;
    SendJson(res, 200,
             JsonObject({{"actor", certs::ActorName(session.who)},
                         {"role", RoleOf(session.who)}}));
  } else if (post && path == "/api/sign-out") {
    Session session;
    if (Authenticate(req, res, &session) == nullptr) return;
    sessions_.End(session.id);
    if (options_.recorder != nullptr) {
      (void)options_.recorder->Record(certs::ActorName(session.who),
                                      "console.sign-out", "signed out");
    }
    res.SetHeader("Set-Cookie", absl::StrCat(kCookie,
                                             "=; Path=/; Secure; HttpOnly; "
                                             "SameSite=Strict; Max-Age=0"));
    SendJson(res, 200, "{}");
  } else if (post && absl::StartsWith(path, "/api/rpc/")) {
    // <package.Service>/<Method>: letters, digits, '_' and '.' in the
    // service, no '.' in the method.
    const absl::string_view method = absl::string_view(path).substr(9);
    const size_t slash = method.find('/');
    const bool well_formed =
        slash != absl::string_view::npos && slash > 0 &&
        slash + 1 < method.size() &&
        std::all_of(method.begin(), method.end(),
                    [](char ch) {
                      return absl::ascii_isalnum(ch) || ch == '_' ||
                             ch == '.' || ch == '/';
                    }) &&
        method.find('/', slash + 1) == absl::string_view::npos &&
        method.substr(slash + 1).find('.') == absl::string_view::npos;
    if (!well_formed) {
      SendError(res, 404, "NOT_FOUND", "no such page");
      return;
    }
    Session session;
    if (Authenticate(req, res, &session) == nullptr) return;
    if (!IsJson(req)) {
      SendError(res, 415, "INVALID_ARGUMENT",
                "send the request as application/json");
      return;
    }
    BridgeAnswer a =
        bridge_.Call(method, req.body.empty() ? "{}" : req.body, session.id);
    SendJson(res, a.http_status, a.json);
  } else {
    SendError(res, 404, "NOT_FOUND", "no such page");
  }
}

}  // namespace dx::console
