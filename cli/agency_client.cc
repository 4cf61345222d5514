#include "cli/agency_client.h"

#include <grpcpp/support/status.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "google/rpc/localized_message.pb.h"

namespace dx::cli {
namespace {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t nanos = absl::ToUnixNanos(t);
  ts->set_seconds(nanos / 1000000000);
  ts->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

}  // namespace

v1::RequestEnvelope BuildEnvelope(const RequestParams& p) {
  v1::RequestEnvelope env;
  env.set_request_id(p.request_id.empty() ? HexEncode(certs::RandomBytes(16))
                                          : p.request_id);
  env.set_consumer_agency(p.consumer_agency);
  env.set_consumer_system(p.consumer_system);
  env.set_dataset_id(p.dataset_id);
  env.set_operation(v1::OPERATION_READ);
  env.set_purpose_code(p.purpose_code);
  env.set_legal_basis(p.legal_basis);
  for (const auto& f : p.fields) env.add_fields(f);
  for (const auto& [k, v] : p.query) (*env.mutable_query())[k] = v;
  env.set_data_subject_id(p.data_subject_id);
  env.set_consent_reference(p.consent_reference);
  const absl::Time issued =
      p.issued_at == absl::Time() ? absl::Now() : p.issued_at;
  SetTimestamp(issued, env.mutable_issued_at());
  SetTimestamp(issued + p.lifetime, env.mutable_expires_at());
  env.set_nonce(p.nonce.empty() ? certs::RandomBytes(16) : p.nonce);
  env.set_max_records(p.max_records);
  return env;
}

absl::StatusOr<v1::SignedRequest> SignEnvelope(
    const v1::RequestEnvelope& envelope, const certs::Signer& signer) {
  v1::SignedRequest req;
  envelope.SerializeToString(req.mutable_envelope());
  DX_ASSIGN_OR_RETURN(*req.mutable_signature(), signer.Sign(req.envelope()));
  req.set_signer_certificate(signer.certificate_der());
  return req;
}

absl::StatusOr<v1::ResponseEnvelope> VerifyResponse(
    const v1::SignedResponse& response, const v1::SignedRequest& request,
    certs::TrustStore* trust) {
  certs::CertVerdict v = trust->VerifyDer(response.signer_certificate());
  if (!v.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("gateway signing certificate: ", v.message));
  }
  if (v.cert->principal.kind != certs::PrincipalKind::kGateway) {
    return absl::UnauthenticatedError(
        "response signed by a certificate that is not a gateway's");
  }
  if (!certs::VerifySignature(v.cert->public_key.get(), response.envelope(),
                              response.signature())) {
    return absl::UnauthenticatedError(
        "gateway signature does not verify over the response envelope");
  }
  v1::ResponseEnvelope env;
  if (!env.ParseFromString(response.envelope())) {
    return absl::DataLossError("response envelope does not parse");
  }
  if (env.request_sha256() != certs::Sha256(request.envelope())) {
    return absl::UnauthenticatedError(
        "response answers another request (request_sha256 differs)");
  }
  return env;
}

const char* GrpcCodeName(int code) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN";
}

std::optional<v1::ErrorDetail> ErrorDetailOf(const grpc::Status& status) {
  v1::RpcStatus rpc;
  if (status.error_details().empty() ||
      !rpc.ParseFromString(status.error_details())) {
    return std::nullopt;
  }
  for (const auto& any : rpc.details()) {
    v1::ErrorDetail detail;
    if (any.UnpackTo(&detail)) return detail;
  }
  return std::nullopt;
}

std::optional<std::string> LocalizedMessageOf(const grpc::Status& status,
                                              const std::string& locale) {
  v1::RpcStatus rpc;
  if (status.error_details().empty() ||
      !rpc.ParseFromString(status.error_details())) {
    return std::nullopt;
  }
  for (const auto& any : rpc.details()) {
    google::rpc::LocalizedMessage m;
    if (!any.Is<google::rpc::LocalizedMessage>() || !any.UnpackTo(&m)) {
      continue;
    }
    if (m.locale() == locale || absl::StartsWith(m.locale(), locale + "-")) {
      return m.message();
    }
  }
  return std::nullopt;
}

}  // namespace dx::cli
