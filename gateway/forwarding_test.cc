#include "gateway/internal/forwarding.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"
#include "dx/v1/errors.pb.h"
#include "gateway/testing/fake_federation_trust.h"
#include "google/rpc/localized_message.pb.h"

namespace dx::gateway::internal {
namespace {

using ::dx::testing::DevPkiDir;

// ---- A peer's refusal -----------------------------------------------------

TEST(PeerErrorDetailTest, ReadsBackWhatErrorStatusWrote) {
  Refusal r = Refusal::For(v1::REASON_POLICY_DENIED, "no grant for G01");
  r.legal_basis = "Decree 194/2025 Art. 16";
  r.rule_id = "rule-7";
  r.platform_id = "vn.gov.bca";
  audit::AppendResult receipt{41, std::string(32, 'h')};
  const grpc::Status s = ErrorStatus(r, "req-1", &receipt, "gw1");
  v1::ErrorDetail d;
  ASSERT_TRUE(PeerErrorDetail(s, &d));
  EXPECT_EQ(d.reason(), v1::REASON_POLICY_DENIED);
  EXPECT_EQ(d.message(), "no grant for G01");
  EXPECT_EQ(d.legal_basis(), "Decree 194/2025 Art. 16");
  EXPECT_EQ(d.policy_rule_id(), "rule-7");
  EXPECT_EQ(d.request_id(), "req-1");
  EXPECT_EQ(d.platform_id(), "vn.gov.bca");
  EXPECT_EQ(d.receipt().sequence_number(), 41u);
  EXPECT_EQ(d.receipt().node_id(), "gw1");
}

TEST(PeerErrorDetailTest, NoDetailIsNoRefusal) {
  v1::ErrorDetail d;
  EXPECT_FALSE(PeerErrorDetail(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"), &d));
  EXPECT_FALSE(PeerErrorDetail(
      grpc::Status(grpc::StatusCode::INTERNAL, "x", "\xff\xff garbage"), &d));
  // Details of another kind only (a LocalizedMessage, no ErrorDetail).
  v1::RpcStatus rpc;
  rpc.set_code(static_cast<int>(grpc::StatusCode::INTERNAL));
  google::rpc::LocalizedMessage localized;
  localized.set_locale("en");
  localized.set_message("words");
  rpc.add_details()->PackFrom(localized);
  EXPECT_FALSE(PeerErrorDetail(
      grpc::Status(grpc::StatusCode::INTERNAL, "x", rpc.SerializeAsString()),
      &d));
}

TEST(RecordedPeerRefusalTest, NamesThePlatformThatRefused) {
  v1::ErrorDetail d;
  d.set_reason(v1::REASON_POLICY_DENIED);
  d.set_message("no grant for G01");
  d.set_legal_basis("Law on Data 2024 Art. 18");
  d.set_policy_rule_id("rule-7");
  const grpc::Status s(grpc::StatusCode::PERMISSION_DENIED, "no grant");
  // The peer said nothing of itself: the peer it was sent to refused.
  Refusal r = RecordedPeerRefusal(s, d, "vn.ndxp.hub");
  EXPECT_EQ(r.code, absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(r.reason, v1::REASON_POLICY_DENIED);
  EXPECT_EQ(r.platform_id, "vn.ndxp.hub");
  EXPECT_NE(r.message.find("platform vn.ndxp.hub refused"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("no grant for G01"), std::string::npos);
  EXPECT_EQ(r.legal_basis, "Law on Data 2024 Art. 18");
  EXPECT_EQ(r.rule_id, "rule-7");
  // A refusal the hub says is a platform's further on: recorded as the
  // hub's (the one this hop heard it from), naming the claim, which this
  // hop cannot check.
  d.set_platform_id("vn.gov.bca");
  r = RecordedPeerRefusal(s, d, "vn.ndxp.hub");
  EXPECT_EQ(r.platform_id, "vn.ndxp.hub");
  EXPECT_NE(r.message.find("platform vn.ndxp.hub relayed a refusal it says is "
                           "platform vn.gov.bca's"),
            std::string::npos)
      << r.message;
}

TEST(PeerFailureTest, LateIsDeadlineExceededAndDownIsUnavailable) {
  PeerRoute route;
  route.platform_id = "vn.gov.bca";
  v1::FederationGateway gateway;
  gateway.set_address("10.0.0.7:7443");
  Refusal late =
      PeerFailure(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline"),
                  route, gateway);
  EXPECT_EQ(late.code, absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(late.reason, v1::REASON_PEER_UNAVAILABLE);
  EXPECT_NE(late.message.find("vn.gov.bca"), std::string::npos);
  EXPECT_NE(late.message.find("10.0.0.7:7443"), std::string::npos);
  for (grpc::StatusCode code :
       {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::RESOURCE_EXHAUSTED,
        grpc::StatusCode::INTERNAL}) {
    Refusal down = PeerFailure(grpc::Status(code, "boom"), route, gateway);
    EXPECT_EQ(down.code, absl::StatusCode::kUnavailable) << code;
    EXPECT_EQ(down.reason, v1::REASON_PEER_UNAVAILABLE);
    EXPECT_NE(down.message.find("vn.gov.bca"), std::string::npos);
    EXPECT_NE(down.message.find("10.0.0.7:7443"), std::string::npos);
    EXPECT_NE(down.message.find("boom"), std::string::npos);
  }
}

// ---- The answer relayed ---------------------------------------------------

// Takes answers signed with one certificate as the peer vn.gov.bca's.
class FakeAnswerTrust final : public testing::FakeFederationTrust {
 public:
  explicit FakeAnswerTrust(std::string peer_signer_der)
      : peer_signer_der_(std::move(peer_signer_der)) {}
  absl::StatusOr<std::string> AnswerSignerPlatform(
      const std::string& signer_der) const override {
    if (signer_der != peer_signer_der_) {
      return absl::PermissionDeniedError(
          "the answer's signer chains to no peer platform's roots");
    }
    return std::string("vn.gov.bca");
  }

 private:
  const std::string peer_signer_der_;
};

class RelayedAnswerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string& pki = DevPkiDir();
    auto gw = certs::Signer::FromFiles(pki + "/gateway/sign.key",
                                       pki + "/gateway/sign.pem");
    ASSERT_TRUE(gw.ok()) << gw.status();
    peer_ = *std::move(gw);
    auto agency =
        certs::Signer::FromFiles(pki + "/agencies/000.00.00.G01/sign.key",
                                 pki + "/agencies/000.00.00.G01/sign.pem");
    ASSERT_TRUE(agency.ok()) << agency.status();
    other_ = *std::move(agency);
    trust_ = std::make_unique<FakeAnswerTrust>(peer_->certificate_der());
  }

  v1::ResponseEnvelope Envelope() const {
    v1::ResponseEnvelope e;
    e.set_request_sha256(request_sha256_);
    e.set_request_id("req-1");
    e.set_gateway_node_id("gw1");
    e.mutable_receipt()->set_sequence_number(9);
    return e;
  }
  static v1::SignedResponse Signed(const v1::ResponseEnvelope& e,
                                   const certs::Signer& by) {
    v1::SignedResponse r;
    e.SerializeToString(r.mutable_envelope());
    r.set_signature(*by.Sign(r.envelope()));
    r.set_signer_certificate(by.certificate_der());
    return r;
  }

  const std::string request_sha256_ = certs::Sha256("the consumer's bytes");
  std::unique_ptr<certs::Signer> peer_;
  std::unique_ptr<certs::Signer> other_;
  std::unique_ptr<FakeAnswerTrust> trust_;
};

TEST_F(RelayedAnswerTest, APeersSignedAnswerToThisRequestIsTaken) {
  v1::ResponseEnvelope env;
  absl::Status s = CheckRelayedAnswer(*trust_, Signed(Envelope(), *peer_),
                                      request_sha256_, "vn.gov.bca", &env);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(env.request_id(), "req-1");
  EXPECT_EQ(env.receipt().sequence_number(), 9u);
}

TEST_F(RelayedAnswerTest, AnotherRequestsAnswerIsRefused) {
  v1::ResponseEnvelope e = Envelope();
  e.set_request_sha256(certs::Sha256("another request"));
  v1::ResponseEnvelope env;
  absl::Status s = CheckRelayedAnswer(*trust_, Signed(e, *peer_),
                                      request_sha256_, "vn.gov.bca", &env);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("another request"), std::string::npos) << s;
}

TEST_F(RelayedAnswerTest, AChangedEnvelopeByteIsRefused) {
  v1::SignedResponse answer = Signed(Envelope(), *peer_);
  // A relay that changed what was signed: one more record served, say.
  v1::ResponseEnvelope e = Envelope();
  e.mutable_receipt()->set_sequence_number(10);
  e.SerializeToString(answer.mutable_envelope());
  v1::ResponseEnvelope env;
  absl::Status s =
      CheckRelayedAnswer(*trust_, answer, request_sha256_, "vn.gov.bca", &env);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("does not verify"), std::string::npos) << s;
  // A signature that is not one.
  answer = Signed(Envelope(), *peer_);
  answer.set_signature("not a signature");
  EXPECT_FALSE(
      CheckRelayedAnswer(*trust_, answer, request_sha256_, "vn.gov.bca", &env)
          .ok());
  // Not an envelope at all.
  answer.set_envelope("\xff\xff\xff");
  EXPECT_FALSE(
      CheckRelayedAnswer(*trust_, answer, request_sha256_, "vn.gov.bca", &env)
          .ok());
}

TEST_F(RelayedAnswerTest, OnlyTheServingPlatformsNamedGatewayMaySign) {
  v1::ResponseEnvelope env;
  // Well signed by vn.gov.bca's gateway, but the dataset is another
  // platform's: a hub in between cannot answer for the provider.
  absl::Status s = CheckRelayedAnswer(*trust_, Signed(Envelope(), *peer_),
                                      request_sha256_, "vn.gov.other", &env);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_NE(s.message().find("vn.gov.other"), std::string::npos) << s;
  // The envelope names another node than the signer.
  v1::ResponseEnvelope e = Envelope();
  e.set_gateway_node_id("gw9");
  s = CheckRelayedAnswer(*trust_, Signed(e, *peer_), request_sha256_,
                         "vn.gov.bca", &env);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
}

TEST_F(RelayedAnswerTest, ASignerOfNoPeerPlatformIsRefused) {
  // Well signed, by a key whose certificate no peer platform vouches for.
  v1::ResponseEnvelope env;
  absl::Status s = CheckRelayedAnswer(*trust_, Signed(Envelope(), *other_),
                                      request_sha256_, "vn.gov.bca", &env);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  // The peer's certificate beside another key's signature.
  v1::SignedResponse mixed = Signed(Envelope(), *other_);
  mixed.set_signer_certificate(peer_->certificate_der());
  s = CheckRelayedAnswer(*trust_, mixed, request_sha256_, "vn.gov.bca", &env);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("vn.gov.bca"), std::string::npos) << s;
}

// ---- This hop's receipt ---------------------------------------------------

TEST(HopReceiptTest, SignedBodyNamesThisHopItsRecordAndTheAnswer) {
  const std::string& pki = DevPkiDir();
  auto signer = certs::Signer::FromFiles(pki + "/gateway/sign.key",
                                         pki + "/gateway/sign.pem");
  ASSERT_TRUE(signer.ok()) << signer.status();
  v1::SignedResponse answer;
  answer.set_envelope("the provider's signed envelope");
  answer.set_signature("the provider's signature");
  const std::string request_sha256 = certs::Sha256("request");
  audit::AppendResult receipt{77, std::string(32, 'r')};
  const absl::Time now =
      absl::FromUnixSeconds(1767225600) + absl::Nanoseconds(123456789);
  ASSERT_TRUE(AddHopReceipt(**signer, "vn.gov.hanoi", "gw-7", request_sha256,
                            "vn.gov.bca", receipt, now, &answer)
                  .ok());
  // Beside the signed bytes, never in them.
  EXPECT_EQ(answer.envelope(), "the provider's signed envelope");
  EXPECT_EQ(answer.signature(), "the provider's signature");
  ASSERT_EQ(answer.hop_receipts_size(), 1);
  const v1::HopReceipt& hop = answer.hop_receipts(0);
  EXPECT_EQ(hop.signer_certificate(), (*signer)->certificate_der());
  absl::StatusOr<certs::PkeyPtr> key =
      certs::PublicKeyOfDer(hop.signer_certificate());
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(certs::VerifySignature(key->get(), hop.body(), hop.signature()));
  std::string altered = hop.body();
  altered.back() ^= 1;
  EXPECT_FALSE(certs::VerifySignature(key->get(), altered, hop.signature()));

  v1::HopReceiptBody body;
  ASSERT_TRUE(body.ParseFromString(hop.body()));
  EXPECT_EQ(body.platform_id(), "vn.gov.hanoi");
  EXPECT_EQ(body.node_id(), "gw-7");
  EXPECT_EQ(body.request_sha256(), request_sha256);
  EXPECT_EQ(body.response_envelope_sha256(),
            certs::Sha256("the provider's signed envelope"));
  EXPECT_EQ(body.sequence_number(), 77u);
  EXPECT_EQ(body.record_hash(), std::string(32, 'r'));
  EXPECT_EQ(body.routed_to_platform(), "vn.gov.bca");
  EXPECT_EQ(body.issued_at().seconds(), 1767225600);
  EXPECT_EQ(body.issued_at().nanos(), 123456789);

  // The next hop adds its own after it (the nearest hop's last).
  ASSERT_TRUE(AddHopReceipt(**signer, "vn.ndxp.hub", "gw-1", request_sha256,
                            "vn.gov.hanoi", receipt, now, &answer)
                  .ok());
  ASSERT_EQ(answer.hop_receipts_size(), 2);
  v1::HopReceiptBody next;
  ASSERT_TRUE(next.ParseFromString(answer.hop_receipts(1).body()));
  EXPECT_EQ(next.platform_id(), "vn.ndxp.hub");
  // Both receipts are over the same relayed envelope.
  EXPECT_EQ(next.response_envelope_sha256(), body.response_envelope_sha256());
}

}  // namespace
}  // namespace dx::gateway::internal
