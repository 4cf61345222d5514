#include "audit/tree_head.h"

#include "common/bytes.h"
#include "common/status_macros.h"

namespace dx::audit {

std::string TreeHeadSignedBytes(uint64_t tree_size, uint64_t timestamp_ms,
                                const std::string& root_hash) {
  std::string out;
  out.reserve(50);
  out.push_back('\x00');  // version v1
  out.push_back('\x01');  // signature_type tree_hash
  out += ::dx::EncodeBigEndian64(timestamp_ms);
  out += ::dx::EncodeBigEndian64(tree_size);
  out += root_hash;
  return out;
}

namespace {

absl::StatusOr<v1::SignedTreeHead> Sign(
    const certs::Signer& signer, const std::string& node_id, uint64_t tree_size,
    uint64_t timestamp_ms, const std::string& root_hash, std::string tbs) {
  v1::SignedTreeHead sth;
  sth.set_tree_size(tree_size);
  sth.set_root_hash(root_hash);
  sth.set_timestamp_ms(timestamp_ms);
  sth.set_signed_bytes(std::move(tbs));
  DX_ASSIGN_OR_RETURN(certs::Signer::Signature sig,
                      signer.SignWithCertificate(sth.signed_bytes()));
  sth.set_signature(std::move(sig.der));
  sth.set_node_id(node_id);
  // The certificate of the key that signed, across a rotation.
  sth.set_signer_certificate(std::move(sig.certificate_der));
  return sth;
}

bool Verify(const v1::SignedTreeHead& sth, const std::string& tbs,
            EVP_PKEY* key) {
  if (!sth.signed_bytes().empty() && sth.signed_bytes() != tbs) return false;
  return sth.root_hash().size() == 32 &&
         certs::VerifySignature(key, tbs, sth.signature());
}

}  // namespace

absl::StatusOr<v1::SignedTreeHead> SignTreeHead(const certs::Signer& signer,
                                                const std::string& node_id,
                                                uint64_t tree_size,
                                                uint64_t timestamp_ms,
                                                const std::string& root_hash) {
  return Sign(signer, node_id, tree_size, timestamp_ms, root_hash,
              TreeHeadSignedBytes(tree_size, timestamp_ms, root_hash));
}

bool VerifyTreeHead(const v1::SignedTreeHead& sth, EVP_PKEY* key) {
  return Verify(
      sth,
      TreeHeadSignedBytes(sth.tree_size(), sth.timestamp_ms(), sth.root_hash()),
      key);
}

std::string ClusterTreeHeadSignedBytes(uint64_t tree_size,
                                       uint64_t timestamp_ms,
                                       const std::string& root_hash) {
  return std::string(kClusterTreeHeadPrefix) +
         TreeHeadSignedBytes(tree_size, timestamp_ms, root_hash);
}

absl::StatusOr<v1::SignedTreeHead> SignClusterTreeHead(
    const certs::Signer& signer, const std::string& node_id, uint64_t tree_size,
    uint64_t timestamp_ms, const std::string& root_hash) {
  return Sign(signer, node_id, tree_size, timestamp_ms, root_hash,
              ClusterTreeHeadSignedBytes(tree_size, timestamp_ms, root_hash));
}

bool VerifyClusterTreeHead(const v1::SignedTreeHead& sth, EVP_PKEY* key) {
  return Verify(sth,
                ClusterTreeHeadSignedBytes(sth.tree_size(), sth.timestamp_ms(),
                                           sth.root_hash()),
                key);
}

}  // namespace dx::audit
