#include "console/console_server.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>

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
#include "console/sign_in.h"

namespace dx::console {
namespace {

namespace pb = google::protobuf;

constexpr char kCookie[] = "__Host-dx_session";
constexpr char kCsrfHeader[] = "X-DX-CSRF";

// What every answer says about itself: no script but ours, no framing, no
// sniffing, no referrer, HTTPS only.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'";

std::string JsonObject(
    std::initializer_list<std::pair<const char*, std::string>> fields) {
  pb::Struct s;
  for (const auto& [k, v] : fields)
    (*s.mutable_fields())[k].set_string_value(v);
  std::string out;
  (void)pb::util::MessageToJsonString(s, &out);
  return out;
}

void SendJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json; charset=utf-8");
}

void SendError(httplib::Response& res, int status, const char* code,
               const std::string& message) {
  SendJson(res, status, JsonObject({{"code", code}, {"message", message}}));
}

// A JSON object body, or false.
bool ParseBody(const httplib::Request& req, pb::Struct* out) {
  return pb::util::JsonStringToMessage(req.body, out).ok();
}

std::string Field(const pb::Struct& s, const char* key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end() || !it->second.has_string_value()) return "";
  return it->second.string_value();
}

std::string CookieOf(const httplib::Request& req, absl::string_view name) {
  for (absl::string_view part :
       absl::StrSplit(req.get_header_value("Cookie"), ';')) {
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

// The TLS client certificate of a request, PEM; "" when none.
std::string PeerCertificatePem(const httplib::Request& req) {
  if (req.ssl == nullptr) return "";
  X509* cert = SSL_get1_peer_certificate(req.ssl);
  if (cert == nullptr) return "";
  std::string pem = certs::CertificateToPem(cert);
  X509_free(cert);
  return pem;
}

std::string RoleOf(const certs::Principal& who) {
  return certs::PrincipalKindName(who.kind);
}

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
  c->server_ = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    c->identity_.InstallOn(&ctx);
    // A client certificate is asked for, never required, and accepted at
    // the TLS layer whatever it is: POST /api/session/certificate checks
    // it with the trust store (chain, CRL, a person's identity).
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER,
                       [](int, X509_STORE_CTX*) { return 1; });
    // With peer verification on, OpenSSL refuses to resume a session (the
    // browser's next connections) unless a session id context is set.
    static constexpr unsigned char kSessionContext[] = "dxgate-console";
    SSL_CTX_set_session_id_context(&ctx, kSessionContext,
                                   sizeof(kSessionContext) - 1);
    return true;
  });
  if (!c->server_->is_valid()) {
    return absl::InternalError("the console's TLS context did not start");
  }
  httplib::SSLServer& s = *c->server_;
  // httplib holds a worker per open connection until its keep-alive ends,
  // and a browser opens several: enough workers for a few people at once,
  // and idle connections let go soon.
  s.new_task_queue = [] { return new httplib::ThreadPool(16); };
  s.set_read_timeout(10, 0);
  s.set_write_timeout(10, 0);
  s.set_keep_alive_timeout(2);
  s.set_keep_alive_max_count(100);
  // Headers and body leave in separate writes: without this, Nagle and the
  // browser's delayed ACK add 40 ms to every answer.
  s.set_tcp_nodelay(true);
  s.set_payload_max_length(2 << 20);  // a policy document fits
  s.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  c->Routes();
  c->port_ = port == 0 ? s.bind_to_any_port(host)
                       : (s.bind_to_port(host, port) ? port : -1);
  if (c->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for the console on ", address,
                     " (address in use, or not an address of this host)"));
  }
  c->public_url_ = c->options_.public_url.empty()
                       ? absl::StrCat("https://", host, ":", c->port_)
                       : c->options_.public_url;
  c->thread_ = std::thread([&s, done = &c->done_] {
    s.listen_after_bind();
    done->store(true);
  });
  return c;
}

ConsoleServer::~ConsoleServer() {
  while (thread_.joinable() && !done_.load()) {
    server_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (thread_.joinable()) thread_.join();
  for (const RefusalBudget::Count& c : refusals_.Drain()) RecordCount(c);
}

void ConsoleServer::RecordFlood(const std::string& address,
                                std::string detail) {
  if (!options_.record_refusal) return;
  authz::CallGate::RefusedCall r;
  r.actor = absl::StrCat("unauthenticated ", address);
  r.action = "console.refused";
  r.detail = std::move(detail);
  r.code = absl::StatusCode::kResourceExhausted;
  (void)options_.record_refusal(r);
}

void ConsoleServer::RecordCount(const RefusalBudget::Count& c) {
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

void ConsoleServer::Refuse(const httplib::Request& req, httplib::Response& res,
                           int code, const std::string& actor, bool verified,
                           const std::string& cert_sha256,
                           const std::string& why) {
  const bool unauthenticated = code == 401;
  RefusalBudget::Verdict budget = refusals_.Take(req.remote_addr);
  for (const RefusalBudget::Count& c : budget.due) RecordCount(c);
  if (!budget.record) {
    const std::string until = absl::FormatTime(
        absl::RFC3339_sec, budget.window_end, absl::UTCTimeZone());
    if (budget.first_over) {
      RecordFlood(
          req.remote_addr,
          absl::StrCat("over ", kRecordedRefusalsPerMinute,
                       " refused requests a minute from ", req.remote_addr,
                       " (the last: ", req.method, " ", req.path, ": ", why,
                       "): its refusals until ", until,
                       " are answered 429 and recorded as one count"));
    }
    const int64_t wait = std::max<int64_t>(
        1, absl::ToInt64Seconds(budget.window_end - options_.clock->Now()));
    res.set_header("Retry-After", std::to_string(wait));
    SendError(res, 429, "RESOURCE_EXHAUSTED",
              absl::StrCat("too many refused requests from ", req.remote_addr,
                           " (the last: ", why, "); wait ", wait,
                           " s, then sign in again"));
    return;
  }
  if (options_.record_refusal) {
    authz::CallGate::RefusedCall r;
    r.actor = actor.empty() ? absl::StrCat("unauthenticated ", req.remote_addr)
                            : actor;
    r.identity_verified = verified;
    r.cert_sha256 = cert_sha256;
    r.action = "console.refused";
    r.detail = absl::StrCat(req.method, " ", req.path, " refused: ", why);
    r.code = unauthenticated ? absl::StatusCode::kUnauthenticated
                             : absl::StatusCode::kPermissionDenied;
    (void)options_.record_refusal(r);
  }
  SendError(res, code,
            unauthenticated ? "UNAUTHENTICATED" : "PERMISSION_DENIED", why);
}

const Session* ConsoleServer::Authenticate(const httplib::Request& req,
                                           httplib::Response& res,
                                           Session* out) {
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
  if (!SameSecret(req.get_header_value(kCsrfHeader), s->csrf_token)) {
    Refuse(req, res, 403, actor, true, "",
           "the request lacks this session's CSRF token (a cross-site "
           "request?)");
    return nullptr;
  }
  const std::string origin = req.get_header_value("Origin");
  if (!origin.empty() &&
      origin != absl::StrCat("https://", req.get_header_value("Host"))) {
    Refuse(req, res, 403, actor, true, "",
           absl::StrCat("a request from another origin (", origin, ")"));
    return nullptr;
  }
  *out = *std::move(s);
  return out;
}

void ConsoleServer::StartSession(const Session& s, httplib::Response& res) {
  res.set_header(
      "Set-Cookie",
      absl::StrCat(kCookie, "=", s.id,
                   "; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=",
                   absl::ToInt64Seconds(options_.session_max)));
  SendJson(res, 200,
           JsonObject({{"csrf_token", s.csrf_token},
                       {"actor", certs::ActorName(s.who)},
                       {"role", RoleOf(s.who)}}));
}

void ConsoleServer::Routes() {
  httplib::SSLServer& s = *server_;
  s.set_post_routing_handler(
      [](const httplib::Request& req, httplib::Response& res) {
        res.set_header("Content-Security-Policy", kContentSecurityPolicy);
        res.set_header("X-Content-Type-Options", "nosniff");
        res.set_header("X-Frame-Options", "DENY");
        res.set_header("Referrer-Policy", "no-referrer");
        res.set_header("Cross-Origin-Opener-Policy", "same-origin");
        res.set_header("Cross-Origin-Resource-Policy", "same-origin");
        res.set_header("Strict-Transport-Security", "max-age=31536000");
        res.set_header("Cache-Control", absl::StartsWith(req.path, "/api/")
                                            ? "no-store"
                                            : "no-cache");
      });

  auto serve_asset = [](const httplib::Request& req, httplib::Response& res) {
    const Asset* a = FindAsset(req.path == "/" ? "/index.html" : req.path);
    if (a == nullptr) {
      SendError(res, 404, "NOT_FOUND", "no such page");
      return;
    }
    res.set_content(a->body.data(), a->body.size(),
                    std::string(a->content_type).c_str());
  };
  s.Get("/", serve_asset);
  s.Get(R"(/assets/[a-z0-9_\-]+\.(js|css|svg|html))", serve_asset);

  s.Get("/api/challenge", [this](const httplib::Request&,
                                 httplib::Response& res) {
    SendJson(res, 200, JsonObject({{"challenge", sessions_.NewChallenge()}}));
  });

  s.Post("/api/sign-in", [this](const httplib::Request& req,
                                httplib::Response& res) {
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
    if (!absl::Base64Unescape(Field(body, "signature"),
                              &attempt.signature_der)) {
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
      Refuse(req, res,
             who.status().code() == absl::StatusCode::kPermissionDenied ? 403
                                                                        : 401,
             claimed,
             who.status().code() == absl::StatusCode::kPermissionDenied, sha,
             std::string(who.status().message()));
      return;
    }
    const std::string code =
        sessions_.NewSignInCode(attempt.certificate_pem, *who);
    SendJson(res, 200,
             JsonObject({{"code", code},
                         {"url", absl::StrCat(public_url_, "/#sign-in=", code)},
                         {"actor", certs::ActorName(*who)}}));
  });

  s.Post("/api/session", [this](const httplib::Request& req,
                                httplib::Response& res) {
    pb::Struct body;
    if (!ParseBody(req, &body)) {
      SendError(res, 400, "INVALID_ARGUMENT", "send JSON: {code}");
      return;
    }
    auto session = sessions_.Redeem(Field(body, "code"));
    if (!session.ok()) {
      Refuse(req, res, 401, "", false, "",
             std::string(session.status().message()));
      return;
    }
    if (options_.record) {
      (void)options_.record(certs::ActorName(session->who), "console.sign-in",
                            "signed in with a signed challenge");
    }
    StartSession(*session, res);
  });

  s.Post("/api/session/certificate", [this](const httplib::Request& req,
                                            httplib::Response& res) {
    const std::string pem = PeerCertificatePem(req);
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
      Refuse(
          req, res, v.ok() ? 403 : 401, claimed, v.ok(), v.claimed_fingerprint,
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
    if (options_.record) {
      (void)options_.record(claimed, "console.sign-in",
                            "signed in with a TLS client certificate");
    }
    StartSession(*session, res);
  });

  s.Get("/api/me", [this](const httplib::Request& req, httplib::Response& res) {
    Session session;
    if (Authenticate(req, res, &session) == nullptr) return;
    SendJson(res, 200,
             JsonObject({{"actor", certs::ActorName(session.who)},
                         {"role", RoleOf(session.who)}}));
  });

  s.Post("/api/sign-out", [this](const httplib::Request& req,
                                 httplib::Response& res) {
    Session session;
    if (Authenticate(req, res, &session) == nullptr) return;
    sessions_.End(session.id);
    if (options_.record) {
      (void)options_.record(certs::ActorName(session.who), "console.sign-out",
                            "signed out");
    }
    res.set_header("Set-Cookie", absl::StrCat(kCookie,
                                              "=; Path=/; Secure; HttpOnly; "
                                              "SameSite=Strict; Max-Age=0"));
    SendJson(res, 200, "{}");
  });

  s.Post(R"(/api/rpc/([A-Za-z0-9_.]+/[A-Za-z0-9_]+))",
         [this](const httplib::Request& req, httplib::Response& res) {
           Session session;
           if (Authenticate(req, res, &session) == nullptr) return;
           if (!absl::StartsWith(req.get_header_value("Content-Type"),
                                 "application/json")) {
             SendError(res, 415, "INVALID_ARGUMENT",
                       "send the request as application/json");
             return;
           }
           BridgeAnswer a =
               bridge_.Call(req.matches[1].str(),
                            req.body.empty() ? "{}" : req.body, session.id);
           SendJson(res, a.http_status, a.json);
         });
}

}  // namespace dx::console
