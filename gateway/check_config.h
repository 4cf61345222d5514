// dxgate --check-config FILE: everything a start would load, loaded and
// checked without starting: the configuration itself (file:line: field),
// each key and certificate pair, the trust anchors and CRLs, the registry
// and the sharing policy compiled against it. For an operator before a
// restart or a reload, and for CI of a deployment's configuration.
#ifndef DX_GATEWAY_CHECK_CONFIG_H_
#define DX_GATEWAY_CHECK_CONFIG_H_

#include <string>
#include <vector>

namespace dx::gateway {

// Every problem found, each "WHERE: what is wrong" (empty: none). Notes
// that are not errors (a certificate expiring within 30 days, an expired
// agreement in the policy) go to `warnings`.
std::vector<std::string> CheckGatewayConfig(const std::string& path,
                                            std::vector<std::string>* warnings);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_CHECK_CONFIG_H_
