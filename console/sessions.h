// SessionStore: the console's sign-in state, in memory (a restart signs
// everyone out, which is the safe side). Three kinds of secrets, each a
// random 256-bit value, base64url, single-purpose:
//   - a challenge, which a person signs to prove they hold their key
//     (single use, 2 minutes);
//   - a sign-in code, given for a verified signature and carried to the
//     browser in a link's #fragment (single use, 60 seconds), so the
//     browser never sees the person's key and the code is never in a URL
//     a server logs;
//   - a session, which the browser holds in an HttpOnly cookie, with its
//     CSRF token; it ends after an idle time and a maximum age.
// Bounded: beyond kMaxEach outstanding of a kind, the oldest is dropped.
// Thread-safe.
#ifndef DX_CONSOLE_SESSIONS_H_
#define DX_CONSOLE_SESSIONS_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certs/identity.h"
#include "common/clock.h"

namespace dx::console {

struct Session {
  std::string id;
  std::string csrf_token;
  // The certificate the person signed in with: every call is decided on
  // it again (chain, CRL, role), as for a TLS caller.
  std::string cert_pem;
  certs::Principal who;
  absl::Time created;
  absl::Time last_used;
};

class SessionStore {
 public:
  static constexpr size_t kMaxEach = 10000;
  static constexpr absl::Duration kChallengeLifetime = absl::Minutes(2);
  static constexpr absl::Duration kCodeLifetime = absl::Seconds(60);

  SessionStore(const Clock* clock, absl::Duration idle, absl::Duration max_age)
      : clock_(clock), idle_(idle), max_age_(max_age) {}

  std::string NewChallenge();
  // True once for a challenge this store issued and that has not expired.
  bool TakeChallenge(const std::string& challenge);

  // A sign-in code for a person whose signature verified.
  std::string NewSignInCode(std::string cert_pem, certs::Principal who);
  // Trades a code for a new session (the code is spent either way).
  absl::StatusOr<Session> Redeem(const std::string& code);

  // The live session `id`, its idle clock restarted; UNAUTHENTICATED when
  // unknown or ended.
  absl::StatusOr<Session> Touch(const std::string& id);
  // The certificate of a live session, "" when none (for authz::CallGate).
  std::string CertificateOf(absl::string_view id);
  void End(const std::string& id);

 private:
  struct Pending {
    absl::Time expires;
    std::string cert_pem;
    certs::Principal who;
  };
  bool Alive(const Session& s, absl::Time now) const;

  const Clock* const clock_;
  const absl::Duration idle_;
  const absl::Duration max_age_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, absl::Time> challenges_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Pending> codes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Session> sessions_ ABSL_GUARDED_BY(mu_);
};

// A new random 256-bit secret, base64url without padding.
std::string NewSecret();

}  // namespace dx::console

#endif  // DX_CONSOLE_SESSIONS_H_
