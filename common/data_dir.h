// DataDir: the layout of a gateway's data_dir, in one place for the
// gateway and for dxctl (which opens a stopped node's folder read-only, and
// writes backups). Backups and restores copy exactly these entries.
#ifndef DX_COMMON_DATA_DIR_H_
#define DX_COMMON_DATA_DIR_H_

#include <string>

namespace dx {

class DataDir {
 public:
  explicit DataDir(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  // RocksDB: the audit log (records, Merkle tree, tree heads, indexes).
  std::string state() const { return root_ + "/state"; }
  // RocksDB: sharing-policy revisions and pending changes (local store).
  std::string policy() const { return root_ + "/policy"; }
  // The key of the keyed hash of data-subject ids, when the config has
  // none (32 random bytes, made at first start).
  std::string subject_key() const { return root_ + "/subject-hmac.key"; }
  // The TLS key, certificate and trust anchors the gRPC port serves with:
  // copies of the configured files, written only once they are checked,
  // and watched by gRPC (a rotation without a restart).
  std::string tls() const { return root_ + "/tls"; }

 private:
  std::string root_;
};

}  // namespace dx

#endif  // DX_COMMON_DATA_DIR_H_
