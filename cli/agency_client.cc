#include "cli/agency_client.h"

#include <grpcpp/support/status.h>
#include <openssl/x509.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "certs/identity.h"
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

absl::StatusOr<PeerCas> LoadPeerCas(const std::string& pem_file) {
  DX_ASSIGN_OR_RETURN(std::string pem, ReadFile(pem_file));
  DX_ASSIGN_OR_RETURN(std::vector<std::string> ders,
                      certs::PemBundleToDer(pem));
  PeerCas out;
  for (std::string& der : ders) {
    auto cert = certs::ParseCertificateDer(der);
    if (!cert.ok()) return cert.status();
    const bool self_signed =
        X509_NAME_cmp(X509_get_subject_name(cert->get()),
                      X509_get_issuer_name(cert->get())) == 0;
    (self_signed ? out.roots_der : out.intermediates_der)
        .push_back(std::move(der));
  }
  if (out.roots_der.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(pem_file, " holds no root (self-signed) certificate"));
  }
  return out;
}

namespace {

// The key of a gateway's signing certificate `der`: it verifies in
// `trust`, or chains to a peer platform's roots; and it names a gateway.
absl::StatusOr<certs::PkeyPtr> GatewaySignerKey(const std::string& der,
                                                certs::TrustStore* trust,
                                                const PeerCas* peers,
                                                const char* what) {
  certs::CertVerdict v = trust->VerifyDer(der);
  absl::StatusOr<certs::PkeyPtr> key;
  if (v.ok()) {
    key = certs::PublicKeyOfDer(der);
  } else if (peers != nullptr) {
    key = certs::VerifyChainAt(der, peers->intermediates_der, peers->roots_der,
                               absl::ToUnixSeconds(absl::Now()));
    if (!key.ok()) {
      return absl::UnauthenticatedError(absl::StrCat(
          what, ": ", v.message, "; nor does it chain to the peer CAs (",
          key.status().message(), ")"));
    }
  } else {
    return absl::UnauthenticatedError(absl::StrCat(
        what, ": ", v.message,
        " (an answer from another platform: give its CAs with --peer-ca)"));
  }
  if (!key.ok()) return key.status();
  auto cert = certs::ParseCertificateDer(der);
  auto who = cert.ok() ? certs::PrincipalOf(cert->get())
                       : absl::StatusOr<certs::Principal>(cert.status());
  if (!who.ok() || who->kind != certs::PrincipalKind::kGateway) {
    return absl::UnauthenticatedError(
        absl::StrCat(what, " is not a gateway's certificate"));
  }
  return key;
}

}  // namespace

absl::StatusOr<v1::ResponseEnvelope> VerifyResponse(
    const v1::SignedResponse& response, const v1::SignedRequest& request,
    certs::TrustStore* trust, const PeerCas* peers) {
  DX_ASSIGN_OR_RETURN(certs::PkeyPtr key,
                      GatewaySignerKey(response.signer_certificate(), trust,
                                       peers, "gateway signing certificate"));
  if (!certs::VerifySignature(key.get(), response.envelope(),
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

absl::StatusOr<std::vector<v1::HopReceiptBody>> VerifyHopReceipts(
    const v1::SignedResponse& response, const v1::SignedRequest& request,
    certs::TrustStore* trust, const PeerCas* peers) {
  std::vector<v1::HopReceiptBody> out;
  const std::string request_sha = certs::Sha256(request.envelope());
  const std::string answer_sha = certs::Sha256(response.envelope());
  for (int i = 0; i < response.hop_receipts_size(); ++i) {
    const v1::HopReceipt& hop = response.hop_receipts(i);
    const std::string what = absl::StrCat("hop receipt ", i + 1);
    DX_ASSIGN_OR_RETURN(
        certs::PkeyPtr key,
        GatewaySignerKey(hop.signer_certificate(), trust, peers, what.c_str()));
    if (!certs::VerifySignature(key.get(), hop.body(), hop.signature())) {
      return absl::UnauthenticatedError(
          absl::StrCat(what, ": the signature does not verify over its body"));
    }
    v1::HopReceiptBody body;
    if (!body.ParseFromString(hop.body())) {
      return absl::DataLossError(
          absl::StrCat(what, ": the body does not parse"));
    }
    if (body.request_sha256() != request_sha ||
        body.response_envelope_sha256() != answer_sha) {
      return absl::UnauthenticatedError(
          absl::StrCat(what, " (platform ", body.platform_id(),
                       ") is for another request or answer"));
    }
    out.push_back(std::move(body));
  }
  return out;
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
