// dxctl's refusal in each language: English as it always was (scripts read
// it), Vietnamese led by the gateway's vi-VN LocalizedMessage.
#include "cli/refusal_output.h"

#include <grpcpp/support/status.h>

#include "dx/v1/errors.pb.h"
#include "google/rpc/localized_message.pb.h"
#include "gtest/gtest.h"

namespace dx::cli {
namespace {

grpc::Status Refused() {
  v1::ErrorDetail detail;
  detail.set_reason(v1::REASON_POLICY_FORBIDDEN);
  detail.set_legal_basis("Law on Data 2024 Art. 18");
  detail.set_policy_rule_id("f1");
  v1::RpcStatus status;
  status.set_code(grpc::PERMISSION_DENIED);
  status.set_message("forbid f1 refuses ethnicity");
  status.add_details()->PackFrom(detail);
  google::rpc::LocalizedMessage vi;
  vi.set_locale("vi-VN");
  vi.set_message("Một quy tắc cấm từ chối yêu cầu này.");
  status.add_details()->PackFrom(vi);
  google::rpc::LocalizedMessage en;
  en.set_locale("en");
  en.set_message("A forbid rule refuses this request.");
  status.add_details()->PackFrom(en);
  return grpc::Status(grpc::PERMISSION_DENIED, "forbid f1 refuses ethnicity",
                      status.SerializeAsString());
}

TEST(RefusalOutputTest, EnglishIsWhatDxctlAlwaysPrinted) {
  EXPECT_EQ(FormatRefusal(Refused(), i18n::Lang::kEn),
            "REFUSED  PERMISSION_DENIED: forbid f1 refuses ethnicity\n"
            "  reason:       REASON_POLICY_FORBIDDEN\n"
            "  legal basis:  Law on Data 2024 Art. 18\n"
            "  policy rule:  f1\n");
}

TEST(RefusalOutputTest, VietnameseLeadsWithTheGatewaysVietnameseMessage) {
  EXPECT_EQ(FormatRefusal(Refused(), i18n::Lang::kVi),
            "TỪ CHỐI  PERMISSION_DENIED: Một quy tắc cấm từ chối yêu cầu này.\n"
            "  thông báo gốc: forbid f1 refuses ethnicity\n"
            "  lý do:        REASON_POLICY_FORBIDDEN\n"
            "  căn cứ pháp lý: Law on Data 2024 Art. 18\n"
            "  quy tắc:      f1\n");
}

TEST(RefusalOutputTest, AStatusWithoutDetailsIsPrintedInEitherLanguage) {
  const grpc::Status s(grpc::UNAVAILABLE, "connection refused");
  EXPECT_EQ(FormatRefusal(s, i18n::Lang::kVi),
            "TỪ CHỐI  UNAVAILABLE: connection refused\n");
  EXPECT_EQ(FormatRefusal(s, i18n::Lang::kEn),
            "REFUSED  UNAVAILABLE: connection refused\n");
}

}  // namespace
}  // namespace dx::cli
