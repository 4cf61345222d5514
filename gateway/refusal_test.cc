// The table of reason codes to gRPC codes (gateway/refusal.h): every
// v1::ReasonCode has its row, every refusal the gateway builds obeys it,
// and a site that builds a pair outside it cannot send that pair.
#include "gateway/refusal.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "certs/trust_store.h"
#include "gateway/request_checker.h"
#include "gmock/gmock.h"
#include "google/rpc/localized_message.pb.h"
#include "gtest/gtest.h"

namespace dx::gateway {
namespace {

void ExpectObeys(const Refusal& r, const std::string& what) {
  EXPECT_TRUE(r.refused()) << what;
  EXPECT_TRUE(ReasonAllows(r.reason, r.code))
      << what << ": " << v1::ReasonCode_Name(r.reason) << " with "
      << absl::StatusCodeToString(r.code);
}

TEST(ReasonTableTest, EveryReasonCodeHasItsRowInTheEnumsOrder) {
  const google::protobuf::EnumDescriptor* e = v1::ReasonCode_descriptor();
  ASSERT_EQ(ReasonCodes().size(), static_cast<size_t>(e->value_count()));
  for (int i = 0; i < e->value_count(); ++i) {
    const auto reason = static_cast<v1::ReasonCode>(e->value(i)->number());
    SCOPED_TRACE(e->value(i)->name());
    EXPECT_EQ(ReasonCodes()[i].reason, reason);
    const ReasonRow* row = ReasonRowOf(reason);
    ASSERT_NE(row, nullptr);
    ASSERT_FALSE(row->codes.empty());
    for (absl::StatusCode c : row->codes) {
      EXPECT_NE(c, absl::StatusCode::kOk);  // a reason is never success
    }
    EXPECT_EQ(Refusal::For(reason, "m").code, row->codes.front());
  }
  EXPECT_EQ(ReasonRowOf(static_cast<v1::ReasonCode>(9999)), nullptr);
}

TEST(ReasonTableTest, APairOutsideTheTableIsSentWithTheReasonsOwnCode) {
  Refusal r = Refusal::Of(absl::StatusCode::kNotFound, v1::REASON_REPLAY,
                          "already used");
  EXPECT_EQ(r.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.reason, v1::REASON_REPLAY);
  EXPECT_EQ(r.message, "already used");

  // A refusal built as OK would let a failure pass as success.
  r = Refusal::Of(absl::StatusCode::kOk, v1::REASON_POLICY_DENIED, "no");
  EXPECT_TRUE(r.refused());
  EXPECT_EQ(r.code, absl::StatusCode::kPermissionDenied);

  r = Refusal::Of(absl::StatusCode::kOk, static_cast<v1::ReasonCode>(9999),
                  "?");
  EXPECT_EQ(r.code, absl::StatusCode::kInternal);
  EXPECT_EQ(r.reason, v1::REASON_INTERNAL);

  // A pair in the table is kept as built.
  r = Refusal::Of(absl::StatusCode::kResourceExhausted,
                  v1::REASON_GATEWAY_UNAVAILABLE, "busy");
  EXPECT_EQ(r.code, absl::StatusCode::kResourceExhausted);
}

TEST(ReasonTableTest, EveryRefusalTheGatewayBuildsObeysTheTable) {
  const absl::Status why = absl::UnavailableError("disk");
  ExpectObeys(AuditFailure(why), "AuditFailure");
  ExpectObeys(ReplayStoreFailure(why), "ReplayStoreFailure");
  ExpectObeys(ReplayRefusal("r1"), "ReplayRefusal");
  ExpectObeys(InternalFailure(why), "InternalFailure");
  ExpectObeys(ShuttingDown(), "ShuttingDown");
  ExpectObeys(Overloaded(8), "Overloaded");
  EXPECT_EQ(Overloaded(8).code, absl::StatusCode::kResourceExhausted);
  ExpectObeys(AnswerTooLarge(1 << 20, ""), "AnswerTooLarge");
  ExpectObeys(RequestTooLarge(10, 5), "RequestTooLarge");
  // Whatever an adapter answers, a number outside gRPC's codes included.
  for (int code = -1; code <= 17; ++code) {
    if (code == 0) continue;
    ExpectObeys(AdapterFailure(code, "m", absl::Seconds(1)),
                absl::StrCat("AdapterFailure ", code));
  }
  EXPECT_EQ(
      AdapterFailure(grpc::StatusCode::NOT_FOUND, "m", absl::Seconds(1)).code,
      absl::StatusCode::kNotFound);
  for (certs::CertProblem p :
       {certs::CertProblem::kMalformed, certs::CertProblem::kUntrusted,
        certs::CertProblem::kRevoked, certs::CertProblem::kExpired,
        certs::CertProblem::kNoIdentity}) {
    certs::CertVerdict v;
    v.problem = p;
    v.message = "m";
    const Refusal r = CertRefusal(v, "tls");
    ExpectObeys(r, "CertRefusal");
    EXPECT_EQ(r.code, absl::StatusCode::kUnauthenticated);
  }
}

TEST(ReasonTableTest, ErrorStatusCarriesTheCodeAndTheReason) {
  const grpc::Status s = ErrorStatus(ReplayRefusal("r1"), "r1", nullptr, "gw1");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::RpcStatus status;
  ASSERT_TRUE(status.ParseFromString(s.error_details()));
  EXPECT_EQ(status.code(), static_cast<int>(grpc::FAILED_PRECONDITION));
  v1::ErrorDetail detail;
  ASSERT_TRUE(status.details(0).UnpackTo(&detail));
  EXPECT_EQ(detail.reason(), v1::REASON_REPLAY);
  EXPECT_EQ(detail.request_id(), "r1");
}

// Every reason has its sentence in both languages (i18n/*.json), and none
// is the other's copy: a reason added to the enum without its entry fails
// here.
TEST(LocalizedRefusalTest, EveryReasonCodeHasItsSentenceInBothLanguages) {
  const google::protobuf::EnumDescriptor* e = v1::ReasonCode_descriptor();
  for (int i = 0; i < e->value_count(); ++i) {
    const std::string key = absl::StrCat("refusal.", e->value(i)->name());
    SCOPED_TRACE(key);
    ASSERT_TRUE(i18n::Has(key));
    const std::string_view vi = i18n::Raw(i18n::Lang::kVi, key);
    const std::string_view en = i18n::Raw(i18n::Lang::kEn, key);
    EXPECT_FALSE(vi.empty());
    EXPECT_FALSE(en.empty());
    EXPECT_NE(vi, en);
  }
}

TEST(LocalizedRefusalTest,
     ErrorStatusCarriesVietnameseAndEnglishBesideTheMessage) {
  Refusal r =
      Refusal::For(v1::REASON_POLICY_FORBIDDEN, "forbid f1 refuses ethnicity");
  r.legal_basis = "Law on Data 2024 Art. 18";
  r.rule_id = "f1";
  const grpc::Status s = ErrorStatus(r, "r1", nullptr, "gw1");
  // Today's message stays what clients parse.
  EXPECT_EQ(s.error_message(), "forbid f1 refuses ethnicity");
  v1::RpcStatus status;
  ASSERT_TRUE(status.ParseFromString(s.error_details()));
  EXPECT_EQ(status.message(), "forbid f1 refuses ethnicity");
  ASSERT_EQ(status.details_size(), 3);
  v1::ErrorDetail detail;
  ASSERT_TRUE(status.details(0).UnpackTo(&detail));
  EXPECT_EQ(detail.message(), "forbid f1 refuses ethnicity");
  google::rpc::LocalizedMessage vi, en;
  ASSERT_TRUE(status.details(1).UnpackTo(&vi));
  ASSERT_TRUE(status.details(2).UnpackTo(&en));
  EXPECT_EQ(status.details(1).type_url(),
            "type.googleapis.com/google.rpc.LocalizedMessage");
  EXPECT_EQ(vi.locale(), "vi-VN");
  EXPECT_EQ(vi.message(),
            "Một quy tắc cấm của chính sách chia sẻ dữ liệu từ chối yêu cầu "
            "này. Căn cứ pháp lý: Law on Data 2024 Art. 18. Quy tắc: f1.");
  EXPECT_EQ(en.locale(), "en");
  EXPECT_EQ(en.message(),
            "A forbid rule of the sharing policy refuses this request. Legal "
            "basis: Law on Data 2024 Art. 18. Rule: f1.");
}

TEST(LocalizedRefusalTest, TheDetailOfARefusalIsInterpolatedAsGiven) {
  // A request id that looks like a placeholder stays as the caller sent it.
  const Refusal replay = ReplayRefusal("{size}-42");
  EXPECT_EQ(LocalizedText(replay, i18n::Lang::kVi),
            "Mã yêu cầu '{size}-42' hoặc nonce của nó đã được sử dụng; hãy "
            "gửi yêu cầu mới với mã và nonce mới.");
  const Refusal big = RequestTooLarge(5000, 4096);
  EXPECT_THAT(LocalizedText(big, i18n::Lang::kVi),
              testing::StartsWith("Yêu cầu có 5000 byte; cổng kết nối này chỉ "
                                  "chấp nhận tối đa 4096 byte"));
  EXPECT_THAT(LocalizedText(big, i18n::Lang::kEn),
              testing::StartsWith("The request is 5000 bytes; this gateway "
                                  "accepts at most 4096"));
  const Refusal slow =
      AdapterFailure(grpc::DEADLINE_EXCEEDED, "late", absl::Seconds(3));
  EXPECT_THAT(LocalizedText(slow, i18n::Lang::kVi),
              testing::HasSubstr("trong vòng 3s"));
}

}  // namespace
}  // namespace dx::gateway
