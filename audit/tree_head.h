// Signed tree heads: RFC 6962's TreeHeadSignature bytes, signed with ECDSA
// P-256 / SHA-256, so the openssl CLI can check them.
#ifndef DX_AUDIT_TREE_HEAD_H_
#define DX_AUDIT_TREE_HEAD_H_

#include <openssl/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "certs/crypto.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

// 0x00 || 0x01 || timestamp_ms (BE64) || tree_size (BE64) || root (32).
std::string TreeHeadSignedBytes(uint64_t tree_size, uint64_t timestamp_ms,
                                const std::string& root_hash);

absl::StatusOr<v1::SignedTreeHead> SignTreeHead(const certs::Signer& signer,
                                                const std::string& node_id,
                                                uint64_t tree_size,
                                                uint64_t timestamp_ms,
                                                const std::string& root_hash);

// Checks the signature with `key` (and that signed_bytes, if present, match
// the fields).
bool VerifyTreeHead(const v1::SignedTreeHead& sth, EVP_PKEY* key);

// The cluster checkpoint log's tree heads sign the same 50 bytes behind a
// prefix, so that no node's tree head can pass for the cluster's (the same
// key may sign both): "dxgate cluster checkpoint log\n" || TreeHeadSignature.
inline constexpr char kClusterTreeHeadPrefix[] =
    "dxgate cluster checkpoint log\n";
std::string ClusterTreeHeadSignedBytes(uint64_t tree_size,
                                       uint64_t timestamp_ms,
                                       const std::string& root_hash);
absl::StatusOr<v1::SignedTreeHead> SignClusterTreeHead(
    const certs::Signer& signer, const std::string& node_id, uint64_t tree_size,
    uint64_t timestamp_ms, const std::string& root_hash);
bool VerifyClusterTreeHead(const v1::SignedTreeHead& sth, EVP_PKEY* key);

}  // namespace dx::audit

#endif  // DX_AUDIT_TREE_HEAD_H_
