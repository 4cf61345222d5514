// Federation anchors (docs/FEDERATION.md#anchors): the signed file in which
// a platform's operator names the platforms it routes to, their roots,
// gateways, agencies and datasets. Load() checks the operator's signature
// over the file's exact bytes before it reads a byte of YAML, then every
// rule a router relies on: an agency code or a dataset belongs to at most
// one platform (so no platform can speak for another's agencies), roots
// are CA certificates in force, and an anchor never rolls back to an older
// serial (a revoked root cannot come back with an old file).
#ifndef DX_FEDERATION_ANCHOR_H_
#define DX_FEDERATION_ANCHOR_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dx/v1/federation.pb.h"

namespace dx::federation {

// A platform as an anchor vouches for it.
struct Platform {
  std::string id;
  std::string display_name;
  std::vector<std::string> roots_der;          // its PKI's CA certificates
  std::vector<std::string> intermediates_der;  // chain helpers, not trusted
  std::vector<v1::FederationGateway> gateways;
};

class Anchor {
 public:
  struct Options {
    // The platform whose operator must have signed it (the anchor's
    // platform_id must say so); empty: any.
    std::string operator_platform_id;
    absl::Time now = absl::Now();
    // The serial of the anchor held now: an older one is refused.
    uint64_t min_serial = 0;
    // How far in the future issued_at may be (clocks differ).
    absl::Duration max_clock_skew = absl::Minutes(5);
  };

  // The largest anchor file read: far above any real federation (a
  // thousand platforms with a few roots each), far below harm.
  static constexpr size_t kMaxBytes = 4 << 20;

  // Verifies `signature_der` (DER ECDSA P-256 / SHA-256) over the exact
  // bytes of `anchor_yaml` with the key of `operator_certificate_pem`,
  // then parses and checks the anchor. PERMISSION_DENIED for a signature
  // that does not verify, FAILED_PRECONDITION for an anchor out of date
  // (expired, not yet issued, older than min_serial), INVALID_ARGUMENT for
  // a malformed one; each message names the field and what to do.
  static absl::StatusOr<Anchor> Load(absl::string_view anchor_yaml,
                                     absl::string_view signature_der,
                                     absl::string_view operator_certificate_pem,
                                     const Options& options);
  // The same from files (the signature file is raw DER, as openssl writes).
  static absl::StatusOr<Anchor> LoadFiles(const std::string& anchor_path,
                                          const std::string& signature_path,
                                          const std::string& operator_cert_path,
                                          const Options& options);

  const v1::FederationAnchor& proto() const { return proto_; }
  uint64_t serial() const { return proto_.serial(); }
  absl::Time expires_at() const { return expires_at_; }
  const std::vector<Platform>& platforms() const { return platforms_; }

  // The platform that speaks for `agency_code`: the one listing the code
  // itself or a prefix of it (at most one can). nullptr if none.
  const Platform* PlatformOfAgency(absl::string_view agency_code) const;
  // The platform that serves `dataset_id`; nullptr if none.
  const Platform* PlatformOfDataset(absl::string_view dataset_id) const;
  const Platform* Find(absl::string_view platform_id) const;

 private:
  Anchor() = default;
  absl::Status Check(const Options& options);

  v1::FederationAnchor proto_;
  absl::Time expires_at_;
  std::vector<Platform> platforms_;
  // (agency code or prefix ending in '.', index in platforms_); indexes,
  // not pointers, so that an Anchor moves safely.
  std::vector<std::pair<std::string, size_t>> agencies_;
  std::vector<std::pair<std::string, size_t>> datasets_;
};

}  // namespace dx::federation

#endif  // DX_FEDERATION_ANCHOR_H_
