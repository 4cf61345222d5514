#include "console/sessions.h"

#include "absl/strings/escaping.h"
#include "certs/crypto.h"

namespace dx::console {

std::string NewSecret() {
  return absl::WebSafeBase64Escape(certs::RandomBytes(32));
}

namespace {

// Rarely reached (a flood of sign-in attempts): drops the entry that ends
// first, so the store's memory stays bounded.
template <typename Map, typename EndOf>
void Bound(Map* map, size_t max, EndOf end_of) {
  while (map->size() >= max) {
    auto first = map->begin();
    for (auto it = map->begin(); it != map->end(); ++it) {
      if (end_of(it->second) < end_of(first->second)) first = it;
    }
    map->erase(first);
  }
}

}  // namespace

std::string SessionStore::NewChallenge() {
  std::string c = NewSecret();
  absl::MutexLock lock(&mu_);
  Bound(&challenges_, kMaxEach, [](absl::Time t) { return t; });
  challenges_[c] = clock_->Now() + kChallengeLifetime;
  return c;
}

bool SessionStore::TakeChallenge(const std::string& challenge) {
  absl::MutexLock lock(&mu_);
  auto it = challenges_.find(challenge);
  if (it == challenges_.end()) return false;
  const bool fresh = clock_->Now() < it->second;
  challenges_.erase(it);
  return fresh;
}

std::string SessionStore::NewSignInCode(std::string cert_pem,
                                        certs::Principal who) {
  std::string code = NewSecret();
  absl::MutexLock lock(&mu_);
  Bound(&codes_, kMaxEach, [](const Pending& p) { return p.expires; });
  codes_[code] =
      Pending{clock_->Now() + kCodeLifetime, std::move(cert_pem), who};
  return code;
}

absl::StatusOr<Session> SessionStore::Redeem(const std::string& code) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = codes_.find(code);
  if (it == codes_.end() || now >= it->second.expires) {
    if (it != codes_.end()) codes_.erase(it);
    return absl::UnauthenticatedError(
        "this sign-in link is unknown, used or older than 60 seconds: run "
        "`dxctl console login` again");
  }
  Session s;
  s.id = NewSecret();
  s.csrf_token = NewSecret();
  s.cert_pem = std::move(it->second.cert_pem);
  s.who = it->second.who;
  s.created = now;
  s.last_used = now;
  codes_.erase(it);
  Bound(&sessions_, kMaxEach, [](const Session& x) { return x.last_used; });
  sessions_[s.id] = s;
  return s;
}

bool SessionStore::Alive(const Session& s, absl::Time now) const {
  return now < s.last_used + idle_ && now < s.created + max_age_;
}

absl::StatusOr<Session> SessionStore::Touch(const std::string& id) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || !Alive(it->second, now)) {
    if (it != sessions_.end()) sessions_.erase(it);
    return absl::UnauthenticatedError(
        "not signed in, or the session ended: sign in again with `dxctl "
        "console login`");
  }
  it->second.last_used = now;
  return it->second;
}

std::string SessionStore::CertificateOf(absl::string_view id) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || !Alive(it->second, now)) return "";
  return it->second.cert_pem;
}

void SessionStore::End(const std::string& id) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(id);
}

}  // namespace dx::console
