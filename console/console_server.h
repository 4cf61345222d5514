// ConsoleServer: the web console (docs/CONSOLE.md), HTTPS on its own port
// with the gateway's TLS certificate. It serves the static pages (built
// into the binary: these networks have no internet, so no CDN) and a
// small JSON API:
//   GET  /api/challenge          a challenge to sign (public)
//   POST /api/sign-in            challenge, certificate, signature -> a
//                                one-time sign-in link (public; dxctl)
//   POST /api/session            the link's code -> the session cookie
//   POST /api/session/certificate  the TLS client certificate -> a session
//   GET  /api/me                 who is signed in
//   POST /api/sign-out
//   POST /api/rpc/<Service>/<Method>  rpc_bridge.h: the gateway's own
//                                Audit, PolicyAdmin, RegistryAdmin, Node
// Safe by construction: a strict Content-Security-Policy (no inline
// script, nothing from elsewhere), the session in a __Host- cookie
// (Secure, HttpOnly, SameSite=Strict), every request of a session carrying
// its CSRF token in a header and, when the browser says, an Origin equal
// to the Host; the endpoints open to anyone take only JSON (415) and only
// from no Origin or ours (403, audited), so no form of another site can
// sign a browser in; JSON nested deeper than kMaxJsonDepth is refused
// before it is parsed. Every sign-in, sign-out and refusal is an audit
// record. The HTTP server (http/server.h) bounds what a stranger can make
// the gateway spend: headers, bodies, connections, time.
#ifndef DX_CONSOLE_CONSOLE_SERVER_H_
#define DX_CONSOLE_CONSOLE_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "audit/admin_recorder.h"
#include "authz/call_gate.h"
#include "authz/refusal_budget.h"
#include "certs/trust_store.h"
#include "common/clock.h"
#include "console/rpc_bridge.h"
#include "console/sessions.h"
#include "console/tls_identity.h"

namespace dx::http {
class Server;
struct Request;
struct Response;
}  // namespace dx::http

namespace dx::console {

class ConsoleServer {
 public:
  struct Options {
    std::string listen_address;  // host:port; port 0 picks one
    std::string cert_file;       // the gateway's TLS pair
    std::string key_file;
    // What the sign-in links start with, e.g. "https://dxgate:8444";
    // empty: https://<listen host>:<bound port>.
    std::string public_url;
    absl::Duration session_idle = absl::Minutes(15);
    absl::Duration session_max = absl::Hours(8);
    certs::TrustStore* trust = nullptr;
    // The gateway's in-process channel (grpc::Server::InProcessChannel).
    std::shared_ptr<grpc::Channel> channel;
    // Where sign-ins, sign-outs and refusals are recorded (null: nowhere);
    // must outlive the console.
    audit::AdminRecorder* recorder = nullptr;
    const Clock* clock = SystemClock::Get();
  };

  // JSON bodies nested deeper are refused (400) before they are parsed:
  // the parser's cost grows with the square of the nesting.
  static constexpr int kMaxJsonDepth = 64;
  // The largest body of a request that is not a signed-in person's call
  // (sign-in, a certificate and a signature: a few KiB).
  static constexpr size_t kOpenBodyBytes = 64 << 10;

  static absl::StatusOr<std::unique_ptr<ConsoleServer>> Start(Options options);
  // Stops at once: closes the port and every connection, cancels the
  // bridge's calls under way, then waits for the handlers to return.
  ~ConsoleServer();

  int port() const { return port_; }
  SessionStore& sessions() { return sessions_; }
  // The gateway's TLS pair changed (its reload, already checked): new
  // handshakes present it; the pair in force stays if this one is refused.
  absl::Status SetTlsPair(absl::string_view chain_pem,
                          absl::string_view key_pem, absl::string_view source) {
    return identity_.Set(chain_pem, key_pem, source);
  }

 private:
  explicit ConsoleServer(Options options);
  void Handle(const http::Request& req, http::Response& res);
  void Route(const http::Request& req, http::Response& res);
  // The session of a request that needs one, its CSRF token and origin
  // checked; on failure the response is written and audited.
  const Session* Authenticate(const http::Request& req, http::Response& res,
                              Session* out);
  // For the endpoints open to anyone: an Origin absent or ours (else 403,
  // audited) and, for a POST, a JSON body (else 415). False: answered.
  bool CheckPublic(const http::Request& req, http::Response& res);
  bool OwnOrigin(const http::Request& req, const std::string& origin) const;
  void Refuse(const http::Request& req, http::Response& res, int code,
              const std::string& actor, bool verified,
              const std::string& cert_sha256, const std::string& why);
  void StartSession(const Session& s, http::Response& res);
  void SignIn(const http::Request& req, http::Response& res);
  void RedeemCode(const http::Request& req, http::Response& res);
  void CertificateSession(const http::Request& req, http::Response& res);
  // A record of a flood from `address` (refusal_budget.h): that it began,
  // or the count of refusals not recorded one by one.
  void RecordFlood(const std::string& address, std::string detail);
  void RecordCount(const authz::RefusalBudget::Count& c);

  // Refusals of one address recorded one by one in a minute
  // (refusal_budget.h), and the addresses followed at once.
  static constexpr int kRecordedRefusalsPerMinute = 30;
  static constexpr size_t kMaxAddresses = 10000;

  const Options options_;
  SessionStore sessions_;
  authz::RefusalBudget refusals_;
  RpcBridge bridge_;
  TlsIdentity identity_;  // outlives server_: its handshakes read it
  std::unique_ptr<http::Server> server_;
  int port_ = 0;
  std::string public_url_;  // set once bound
};

}  // namespace dx::console

#endif  // DX_CONSOLE_CONSOLE_SERVER_H_
