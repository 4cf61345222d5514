// dxctl admin: an operator's maintenance of a node. `backup` takes an
// online backup into a folder on the node's host (docs/OPERATIONS.md,
// Backups); the restore is files only, with the node stopped.
#include <grpcpp/grpcpp.h>

#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/remote.h"
#include "dx/v1/cluster.grpc.pb.h"

namespace dx::cli {
namespace {

int RunBackup(const Flags& f) {
  if (f.Get("out").empty()) {
    return cli::Fail("admin", absl::InvalidArgumentError(
                                  "--out DIR is required: a new folder on "
                                  "the gateway's host, absolute"));
  }
  auto remote = RemoteNode::Open(f);
  if (!remote.ok()) return cli::Fail("admin", remote.status());
  v1::BackupRequest req;
  req.set_out_dir(f.Get("out"));
  v1::BackupManifest m;
  RemoteService<v1::Node> node(*std::move(remote));
  absl::Status s =
      node.Call(&v1::Node::Stub::Backup, req, &m, absl::Minutes(30));
  if (!s.ok()) return cli::FailRpc("admin", s);
  if (f.Has("json")) {
    std::cout << Json(m) << "\n";
    return kExitOk;
  }
  uint64_t bytes = 0;
  for (const auto& file : m.files()) bytes += file.bytes();
  std::cout << "backup of " << m.node_id() << " in " << m.out_dir() << ": "
            << m.audit_records() << " audit records, tree head of size "
            << m.tree_head().tree_size() << " (root "
            << absl::BytesToHexString(m.tree_head().root_hash()) << "), "
            << (m.policy_included()
                    ? absl::StrCat("policy revision ", m.policy_revision())
                    : std::string("policy in etcd: back it up with etcdctl "
                                  "snapshot save"))
            << "; " << m.files_size() << " files, " << bytes
            << " bytes; manifest.json\n";
  return kExitOk;
}

const CommandTable& AdminTable() {
  static const auto* table = new CommandTable{
      "admin",
      "usage: dxctl admin SUBCOMMAND [flags]\n\n",
      R"(
connection: --gateway HOST:PORT --pki DIR --person NAME (an operator; or
            DXCTL_PERSON=NAME), or --ca F --cert F --key F
Restore: docs/OPERATIONS.md, Backups.
)",
      {"gateway", "pki", "person", "ca", "cert", "key"},
      {},
      {
          {"backup",
           "backup --out DIR [--json]",
           "an online backup of the node's audit log, policy store and\n"
           "subject-hash key into DIR (new, absolute, on the node's host and\n"
           "file system), with manifest.json naming the tree head it holds",
           {"out"},
           {"json"},
           {},
           RunBackup},
      }};
  return *table;
}

}  // namespace

int RunAdmin(const std::vector<std::string>& args) {
  return Dispatch(AdminTable(), args);
}

}  // namespace dx::cli
