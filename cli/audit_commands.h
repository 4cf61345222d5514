// dxctl audit's commands on one node's log (a gateway's Audit service, or a
// data folder read-only), each returning the exit code (cli/output.h). The
// table that names them is in audit_command.cc; the cluster's commands
// (cli/cluster_audit.h) reuse get, proof and verify.
#ifndef DX_CLI_AUDIT_COMMANDS_H_
#define DX_CLI_AUDIT_COMMANDS_H_

#include <string>

#include "cli/audit_source.h"
#include "cli/flags.h"

namespace dx::cli {

// audit_command.cc
int RunNodeGet(AuditSource& source, const Flags& flags);

// audit_proof_commands.cc
int RunNodeVerify(AuditSource& source, const Flags& flags);
int RunNodeProof(AuditSource& source, const Flags& flags);
int RunNodeConsistency(AuditSource& source, const Flags& flags);
int RunNodeSth(AuditSource& source, const Flags& flags);

// audit_bundle_commands.cc
// Records [from, to) into `out_path`, proven against the newest tree head;
// `sha256` (if not null) gets the bundle's digest.
int RunNodeExport(AuditSource& source, const Flags& flags,
                  const std::string& out_path, uint64_t from, uint64_t to,
                  std::string* sha256);
int RunVerifyBundle(const Flags& flags);
int RunNodePrune(AuditSource& source, const Flags& flags);

}  // namespace dx::cli

#endif  // DX_CLI_AUDIT_COMMANDS_H_
