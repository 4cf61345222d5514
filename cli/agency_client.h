// What an agency's system does to call dxgate: build a RequestEnvelope, sign
// its exact bytes, and check the gateway's signed answer. Used by dxctl and
// the integration tests; examples/python does the same in Python.
#ifndef DX_CLI_AGENCY_CLIENT_H_
#define DX_CLI_AGENCY_CLIENT_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "certs/crypto.h"
#include "certs/trust_store.h"
#include "dx/v1/errors.pb.h"
#include "dx/v1/exchange.pb.h"

namespace grpc {
class Status;
}

namespace dx::cli {

struct RequestParams {
  std::string request_id;  // empty: a random UUID-like id
  std::string consumer_agency;
  std::string consumer_system;
  std::string dataset_id;
  std::string purpose_code;
  std::string legal_basis;
  std::vector<std::string> fields;
  std::map<std::string, std::string> query;
  std::string data_subject_id;
  std::string consent_reference;
  std::string nonce;  // empty: 16 random bytes
  absl::Time issued_at;
  absl::Duration lifetime = absl::Minutes(2);
  uint32_t max_records = 0;
};

v1::RequestEnvelope BuildEnvelope(const RequestParams& params);

// Serializes `envelope` and signs exactly those bytes.
absl::StatusOr<v1::SignedRequest> SignEnvelope(
    const v1::RequestEnvelope& envelope, const certs::Signer& signer);

// The CA certificates of peer platforms whose gateways may sign an answer
// that crossed platforms (docs/FEDERATION.md#routing-through-peers): their
// roots and intermediates, as the federation anchors list them.
struct PeerCas {
  std::vector<std::string> roots_der;          // self-signed
  std::vector<std::string> intermediates_der;  // the others
};
// Reads a PEM bundle of roots and intermediates (self-signed ones are
// roots).
absl::StatusOr<PeerCas> LoadPeerCas(const std::string& pem_file);

// Checks a signed response: the signer certificate verifies in `trust` (or,
// with `peers`, chains to a peer platform's roots) and belongs to a
// gateway, the signature verifies over the envelope bytes, and the envelope
// answers `request` (request_sha256 matches).
absl::StatusOr<v1::ResponseEnvelope> VerifyResponse(
    const v1::SignedResponse& response, const v1::SignedRequest& request,
    certs::TrustStore* trust, const PeerCas* peers = nullptr);

// Checks each hop receipt of an answer that crossed platforms: signed by a
// gateway (of this platform, or with `peers` of a peer platform), for this
// request and this very answer. Returns their bodies, in order.
absl::StatusOr<std::vector<v1::HopReceiptBody>> VerifyHopReceipts(
    const v1::SignedResponse& response, const v1::SignedRequest& request,
    certs::TrustStore* trust, const PeerCas* peers);

// "PERMISSION_DENIED" and the like.
const char* GrpcCodeName(int code);

// The ErrorDetail packed in a gRPC status's details, if any.
std::optional<v1::ErrorDetail> ErrorDetailOf(const grpc::Status& status);

// The message of the google.rpc.LocalizedMessage in a gRPC status's details
// whose locale is `locale` or starts with it and a '-' ("vi" finds
// "vi-VN"), if any.
std::optional<std::string> LocalizedMessageOf(const grpc::Status& status,
                                              const std::string& locale);

}  // namespace dx::cli

#endif  // DX_CLI_AGENCY_CLIENT_H_
