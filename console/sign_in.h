// Signing in to the console with a person's dx certificate and key, so no
// password exists anywhere: the console hands out a challenge, the person
// signs SignInMessage(challenge) with their key (ECDSA P-256, SHA-256, DER:
// what `openssl dgst -sha256 -sign key.pem` writes, and what `dxctl
// console login` does), and sends it with their certificate. Only people
// sign in (auditors, operators, policy administrators): an agency's,
// gateway's or adapter's certificate is refused.
#ifndef DX_CONSOLE_SIGN_IN_H_
#define DX_CONSOLE_SIGN_IN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/identity.h"
#include "certs/trust_store.h"
#include "console/sessions.h"

namespace dx::console {

// The exact bytes a person signs: "dxgate console sign-in\n" + challenge.
std::string SignInMessage(absl::string_view challenge);

// True for the principals that are people.
bool IsPerson(certs::PrincipalKind kind);

struct SignInAttempt {
  std::string challenge;
  std::string certificate_pem;
  std::string signature_der;
};

// Who signed in, or why not: UNAUTHENTICATED (an unknown, used or expired
// challenge, a certificate that does not verify, a wrong signature) or
// PERMISSION_DENIED (not a person). `claimed` receives what the
// certificate says, verified or not, for the refusal's audit record.
absl::StatusOr<certs::Principal> VerifySignIn(certs::TrustStore* trust,
                                              SessionStore* sessions,
                                              const SignInAttempt& attempt,
                                              std::string* claimed);

}  // namespace dx::console

#endif  // DX_CONSOLE_SIGN_IN_H_
