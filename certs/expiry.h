// When the certificates and CRLs a node uses run out: for `dxctl status`
// today and the expiry metrics and alerts (docs/OPERATIONS.md). Reads the
// files as they are now on disk.
#ifndef DX_CERTS_EXPIRY_H_
#define DX_CERTS_EXPIRY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dx::certs {

struct Expiry {
  std::string what;      // "gateway TLS", "trust anchor", "CRL", ...
  std::string subject;   // the dx identity, or the subject / issuer name
  absl::Time not_after;  // a CRL's nextUpdate
};

// Every certificate of a PEM file (a chain gives several).
absl::StatusOr<std::vector<Expiry>> CertificateExpiries(
    const std::string& pem_file, const std::string& what);
// The nextUpdate of each CRL in a PEM file: past it, the CA's every
// certificate is refused (fail closed).
absl::StatusOr<std::vector<Expiry>> CrlNextUpdates(const std::string& pem_file);

}  // namespace dx::certs

#endif  // DX_CERTS_EXPIRY_H_
