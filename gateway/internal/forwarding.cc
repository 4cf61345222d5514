#include "gateway/internal/forwarding.h"

#include "absl/strings/str_cat.h"
#include "certs/identity.h"
#include "rpc/status.h"

namespace dx::gateway::internal {

bool PeerErrorDetail(const grpc::Status& status, v1::ErrorDetail* out) {
  if (status.error_details().empty()) return false;
  v1::RpcStatus rpc;
  if (!rpc.ParseFromString(status.error_details())) return false;
  for (const auto& any : rpc.details()) {
    if (any.Is<v1::ErrorDetail>() && any.UnpackTo(out)) return true;
  }
  return false;
}

Refusal RecordedPeerRefusal(const grpc::Status& status,
                            const v1::ErrorDetail& detail,
                            const std::string& peer_platform) {
  // Built field by field, not through Refusal::Of: the peer may run another
  // version, whose reason and code pair is its own table's.
  Refusal r;
  r.code = rpc::FromGrpcCode(status.error_code());
  r.reason = detail.reason();
  const std::string& who =
      detail.platform_id().empty() ? peer_platform : detail.platform_id();
  r.message =
      who == peer_platform
          ? absl::StrCat("platform ", who, " refused: ", detail.message())
          : absl::StrCat("platform ", peer_platform,
                         " relayed a refusal it says is platform ", who,
                         "'s: ", detail.message());
  r.legal_basis = detail.legal_basis();
  r.rule_id = detail.policy_rule_id();
  r.platform_id = peer_platform;
  return r;
}

Refusal PeerFailure(const grpc::Status& status, const PeerRoute& route,
                    const v1::FederationGateway& gateway) {
  const bool late = status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  return Refusal::Of(
      late ? absl::StatusCode::kDeadlineExceeded
           : absl::StatusCode::kUnavailable,
      v1::REASON_PEER_UNAVAILABLE,
      absl::StrCat(
          "platform ", route.platform_id, "'s gateway ", gateway.address(),
          late ? " did not answer in time" : " could not be reached or failed",
          " (",
          absl::StatusCodeToString(rpc::FromGrpcCode(status.error_code())),
          ": ", status.error_message(), "); retry later"));
}

absl::Status CheckRelayedAnswer(const FederationTrust& federation,
                                const v1::SignedResponse& answer,
                                const std::string& request_sha256,
                                const std::string& serving_platform,
                                v1::ResponseEnvelope* env) {
  if (!env->ParseFromString(answer.envelope())) {
    return absl::DataLossError("its envelope is not a dx.v1.ResponseEnvelope");
  }
  if (env->request_sha256() != request_sha256) {
    return absl::DataLossError("it answers another request");
  }
  absl::StatusOr<std::string> platform =
      federation.AnswerSignerPlatform(answer.signer_certificate());
  if (!platform.ok()) return platform.status();
  if (*platform != serving_platform) {
    return absl::PermissionDeniedError(absl::StrCat(
        "it is signed by a gateway of ", *platform, ", not of ",
        serving_platform, ", the platform that serves the dataset"));
  }
  auto cert = certs::ParseCertificateDer(answer.signer_certificate());
  auto who = cert.ok() ? certs::PrincipalOf(cert->get())
                       : absl::StatusOr<certs::Principal>(cert.status());
  if (!who.ok() || who->id != env->gateway_node_id()) {
    return absl::PermissionDeniedError(
        "its signer is not the gateway node its envelope names");
  }
  absl::StatusOr<certs::PkeyPtr> key =
      certs::PublicKeyOfDer(answer.signer_certificate());
  if (!key.ok() || !certs::VerifySignature(key->get(), answer.envelope(),
                                           answer.signature())) {
    return absl::DataLossError(
        absl::StrCat("its signature does not verify with the certificate of ",
                     *platform, "'s gateway"));
  }
  return absl::OkStatus();
}

absl::Status AddHopReceipt(const certs::Signer& signer,
                           const std::string& platform_id,
                           const std::string& node_id,
                           const std::string& request_sha256,
                           const std::string& routed_to_platform,
                           const audit::AppendResult& receipt, absl::Time now,
                           v1::SignedResponse* answer) {
  v1::HopReceiptBody body;
  body.set_platform_id(platform_id);
  body.set_node_id(node_id);
  body.set_request_sha256(request_sha256);
  body.set_response_envelope_sha256(certs::Sha256(answer->envelope()));
  body.set_sequence_number(receipt.sequence_number);
  body.set_record_hash(receipt.record_hash);
  body.set_routed_to_platform(routed_to_platform);
  const int64_t nanos = absl::ToUnixNanos(now);
  body.mutable_issued_at()->set_seconds(nanos / 1000000000);
  body.mutable_issued_at()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  const std::string bytes = body.SerializeAsString();
  absl::StatusOr<certs::Signer::Signature> sig =
      signer.SignWithCertificate(bytes);
  if (!sig.ok()) return sig.status();
  v1::HopReceipt* out = answer->add_hop_receipts();
  out->set_body(bytes);
  out->set_signature(std::move(sig->der));
  out->set_signer_certificate(std::move(sig->certificate_der));
  return absl::OkStatus();
}

}  // namespace dx::gateway::internal
