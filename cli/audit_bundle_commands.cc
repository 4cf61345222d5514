// dxctl audit export, verify-bundle and prune on one node's log: a bundle
// that proves itself offline, and a prune only after its export verifies.
#include <cstdio>
#include <iostream>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "audit/bundle.h"
#include "audit/bundle_timestamps.h"
#include "audit/cluster_bundle.h"
#include "audit/log_verifier.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "certs/crypto.h"
#include "cli/audit_commands.h"
#include "cli/audit_output.h"
#include "cli/audit_source.h"
#include "cli/cluster_audit.h"
#include "cli/command.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "cli/pki_layout.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/visible_text.h"

namespace dx::cli {
namespace {

int Fail(const absl::Status& s) { return cli::Fail("audit", s); }

}  // namespace

int RunNodeExport(AuditSource& src, const Flags& f, const std::string& out_path,
                  uint64_t from, uint64_t to, std::string* sha256) {
  auto bundle = src.Export(from, to, 0);
  if (!bundle.ok()) return Fail(bundle.status());
  const std::string bytes = bundle->SerializeAsString();
  absl::Status s = WriteFileAtomically(out_path, bytes);
  if (!s.ok()) return Fail(s);
  if (sha256 != nullptr) *sha256 = certs::Sha256(bytes);
  std::cout << "exported " << bundle->entries_size()
            << " records, proven against the "
            << "tree head of size " << bundle->tree_head().tree_size()
            << ", to " << out_path << " (sha256 "
            << HexEncode(certs::Sha256(bytes)) << ")\n";
  (void)f;
  return 0;
}

// The bundle's RFC 3161 stamps (docs/AUDIT.md, "Time-stamps"): each
// head's signature and consistency here; the token with --tsa-ca, or else
// the openssl command that checks it. False when one does not hold.
bool PrintTimestamps(const v1::AuditBundle& bundle,
                     const std::vector<std::string>& roots,
                     const std::string& tsa_ca) {
  if (bundle.timestamps().empty()) return true;
  std::string tsa_pem;
  if (!tsa_ca.empty()) {
    auto pem = ReadFile(tsa_ca);
    if (!pem.ok()) {
      std::cout << "FAILED  --tsa-ca: " << pem.status().message() << "\n";
      return false;
    }
    tsa_pem = *pem;
  }
  bool ok = true;
  for (const audit::TimestampCheck& c :
       audit::CheckBundleTimestamps(bundle, roots, tsa_pem)) {
    if (!c.problem.empty()) {
      ok = false;
      std::cout << "FAILED  time-stamp of the tree head of size " << c.tree_size
                << ": " << c.problem << "\n";
      continue;
    }
    std::cout << (c.token_checked ? "VERIFIED  " : "UNCHECKED ")
              << "the tree head of size " << c.tree_size << " existed at "
              << absl::FormatTime(c.time, absl::UTCTimeZone())
              << (c.token_checked
                      ? " (RFC 3161 token of the authority under --tsa-ca)"
                      : " (the token's time as stated; check it with "
                        "--tsa-ca AUTHORITY.pem, or openssl ts -verify as "
                        "docs/AUDIT.md says)")
              << "\n";
  }
  return ok;
}

int RunVerifyBundle(const Flags& f) {
  if (f.positional().empty())
    return Fail(absl::InvalidArgumentError("give the bundle file"));
  auto bytes = ReadFile(f.positional()[0]);
  if (!bytes.ok()) return Fail(bytes.status());
  std::vector<std::string> roots;
  const std::string ca = f.Get("ca");
  if (!ca.empty()) {
    auto pem = ReadFile(ca);
    if (!pem.ok()) return Fail(pem.status());
    auto ders = certs::PemBundleToDer(*pem);
    if (!ders.ok()) return Fail(ders.status());
    roots = *ders;
  }
  const char* trust = roots.empty()
                          ? " (no --ca: the bundle's own root was trusted)"
                          : " (certificates chain to the given root)";
  v1::ClusterAuditBundle cluster;
  if (audit::IsClusterBundle(*bytes, &cluster)) {
    audit::VerifyReport r = audit::VerifyClusterBundle(cluster, roots);
    std::cout << (r.ok ? "VERIFIED  " : "FAILED  ") << r.records_checked
              << " records of " << cluster.node_bundles_size()
              << " node(s), each node's tree head in the cluster tree head of "
              << cluster.checkpoints(0).cluster_tree_head().tree_size()
              << " checkpoints" << trust << "\n";
    if (!r.ok) std::cout << "  first problem: " << r.problem << "\n";
    return r.ok ? 0 : 3;
  }
  v1::AuditBundle bundle;
  if (!bundle.ParseFromString(*bytes)) {
    std::cout << "FAILED  not an audit bundle\n";
    return 3;
  }
  audit::VerifyReport r = audit::VerifyBundle(bundle, roots);
  std::cout << (r.ok ? "VERIFIED  " : "FAILED  ") << r.records_checked
            << " records against the signed tree head of size "
            << bundle.tree_head().tree_size() << trust << "\n";
  if (!r.ok) std::cout << "  first problem: " << r.problem << "\n";
  const bool stamps_ok = PrintTimestamps(bundle, roots, f.Get("tsa-ca"));
  return r.ok && stamps_ok ? 0 : 3;
}

int RunNodePrune(AuditSource& src, const Flags& f) {
  auto before = ParseWhen(f.Get("before"), "before");
  if (!before.ok()) return Fail(before.status());
  const std::string out = f.Get("out");
  if (*before == 0 || out.empty()) {
    return Fail(
        absl::InvalidArgumentError("give --before TIME and --out FILE"));
  }
  // The records to prune: from the oldest kept to the first at or after
  // `before`.
  int64_t first = -1, end = -1;
  absl::Status s = src.ReadRecords(0, 0, [&](const v1::StoredRecord& r) {
    if (first < 0) first = static_cast<int64_t>(r.sequence_number());
    if (r.record().time_unix_micros() >= *before) {
      end = static_cast<int64_t>(r.sequence_number());
      return false;
    }
    return true;
  });
  if (!s.ok()) return Fail(s);
  if (first < 0 || end == first) {
    std::cout << "nothing to prune before " << f.Get("before") << "\n";
    return 0;
  }
  if (end < 0) {
    return Fail(absl::FailedPreconditionError(
        "every record is older than --before; keep at least the newest"));
  }
  std::string sha;
  if (int rc = RunNodeExport(src, f, out, first, end, &sha); rc != 0) return rc;
  auto bytes = ReadFile(out);
  v1::AuditBundle bundle;
  if (!bytes.ok() || !bundle.ParseFromString(*bytes) ||
      static_cast<int64_t>(bundle.entries_size()) != end - first ||
      !audit::VerifyBundle(bundle, {}).ok) {
    return Fail(
        absl::DataLossError("the export does not verify; nothing pruned"));
  }
  v1::PruneRequest req;
  req.set_before_unix_micros(*before);
  req.set_export_sha256(sha);
  auto resp = src.Prune(req);
  if (!resp.ok()) return Fail(resp.status());
  std::cout << "pruned " << resp->pruned_records()
            << " records; the log now starts at #"
            << resp->first_kept_sequence()
            << "; the tree and its signed heads are kept\n";
  return 0;
}

}  // namespace dx::cli
