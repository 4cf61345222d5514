// FakeFederationTrust: a FederationTrust for unit tests of the code around
// the seam (the request checker, the forwarding helpers). This platform is
// vn.gov.hanoi, with the default limits; every check answers UNIMPLEMENTED
// until a test's subclass overrides the ones it is about.
#ifndef DX_GATEWAY_TESTING_FAKE_FEDERATION_TRUST_H_
#define DX_GATEWAY_TESTING_FAKE_FEDERATION_TRUST_H_

#include <string>

#include "gateway/federation_trust.h"

namespace dx::testing {

class FakeFederationTrust : public gateway::FederationTrust {
 public:
  const std::string& platform_id() const override { return platform_id_; }
  uint32_t max_hops() const override { return 3; }
  absl::Duration return_margin() const override {
    return absl::Milliseconds(200);
  }
  absl::Duration forward_timeout() const override { return absl::Seconds(10); }
  absl::StatusOr<gateway::Hop> IdentifyHop(const std::string&) const override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<certs::PkeyPtr> VerifyForwardedConsumer(
      const std::string&, const std::string&) const override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<std::string> VerifyOriginSigner(
      const std::string&, const std::string&) const override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<gateway::PeerRoute> RouteTo(
      const v1::Dataset&) const override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<std::string> AnswerSignerPlatform(
      const std::string&) const override {
    return absl::UnimplementedError("not used");
  }
  std::string ServingPlatform(const v1::Dataset&,
                              const gateway::PeerRoute& route) const override {
    return route.platform_id;
  }

 private:
  const std::string platform_id_ = "vn.gov.hanoi";
};

}  // namespace dx::testing

#endif  // DX_GATEWAY_TESTING_FAKE_FEDERATION_TRUST_H_
