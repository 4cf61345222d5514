#include "console/sign_in.h"

#include "absl/strings/str_cat.h"

namespace dx::console {

std::string SignInMessage(absl::string_view challenge) {
  return absl::StrCat("dxgate console sign-in\n", challenge);
}

bool IsPerson(certs::PrincipalKind kind) {
  return kind == certs::PrincipalKind::kAuditor ||
         kind == certs::PrincipalKind::kOperator ||
         kind == certs::PrincipalKind::kPolicyAdmin;
}

absl::StatusOr<certs::Principal> VerifySignIn(certs::TrustStore* trust,
                                              SessionStore* sessions,
                                              const SignInAttempt& attempt,
                                              std::string* claimed) {
  certs::CertVerdict v = trust->VerifyPem(attempt.certificate_pem);
  if (v.ok()) {
    *claimed = certs::ActorName(v.cert->principal);
  } else if (v.claimed.has_value()) {
    *claimed = certs::ActorName(*v.claimed);
  } else {
    *claimed = "unknown certificate";
  }
  // The challenge is spent whatever follows: one try per challenge.
  if (!sessions->TakeChallenge(attempt.challenge)) {
    return absl::UnauthenticatedError(
        "the challenge is unknown, used or older than 2 minutes: ask for a "
        "new one (GET /api/challenge)");
  }
  if (!v.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("the certificate does not verify: ", v.message));
  }
  if (!IsPerson(v.cert->principal.kind)) {
    return absl::PermissionDeniedError(
        absl::StrCat("only people sign in to the console (auditor, operator, "
                     "policy-admin certificates); this certificate is ",
                     *claimed));
  }
  if (!v.cert->verifier->Verify(SignInMessage(attempt.challenge),
                                attempt.signature_der)) {
    return absl::UnauthenticatedError(
        "the signature does not verify with the certificate's key: sign "
        "\"dxgate console sign-in\\n\" + challenge with ECDSA P-256 / "
        "SHA-256 (DER)");
  }
  return v.cert->principal;
}

}  // namespace dx::console
