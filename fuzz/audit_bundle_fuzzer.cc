// Fuzzes offline verification of audit export bundles: a bundle is outside
// input (anyone can hand one to an auditor); verification must reject
// garbage cleanly.
#include <cstddef>
#include <cstdint>
#include <string>

#include "audit/bundle_verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dx::v1::AuditBundle bundle;
  if (!bundle.ParseFromArray(data, static_cast<int>(size))) return 0;
  (void)dx::audit::VerifyBundle(bundle, {});
  return 0;
}
