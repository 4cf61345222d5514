// dxctl audit verify, proof, consistency and sth on one node's log: the
// proofs of RFC 9162 checked here, never taken on trust.
#include <cstdio>
#include <iostream>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "audit/bundle.h"
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

int RunNodeVerify(AuditSource& src, const Flags& f) {
  auto from_flag = f.GetUint("from"), to_flag = f.GetUint("to");
  if (!from_flag.ok()) return Fail(from_flag.status());
  if (!to_flag.ok()) return Fail(to_flag.status());
  uint64_t from = *from_flag;
  const uint64_t to = *to_flag;
  if (!f.Has("from")) {
    // A pruned log starts later: from its first record, which the kept
    // tree summarises everything before.
    absl::Status first = src.ReadRecords(0, 1, [&](const v1::StoredRecord& r) {
      from = r.sequence_number();
      return false;
    });
    if (!first.ok()) return Fail(first);
    if (from > 0) {
      std::cout << "records before #" << from
                << " were pruned (see the audit.prune records); verifying "
                   "from #"
                << from << "\n";
    }
  }
  auto heads = src.TreeHeads();
  if (!heads.ok()) return Fail(heads.status());
  if (heads->empty()) {
    std::cout << "no signed tree head yet; nothing to verify against\n";
    return 1;
  }
  // Each tree head with the key of its own certificate (a rotated log key
  // leaves heads signed by each), every certificate checked against --ca.
  bool chain_checked = false;
  std::map<std::string, certs::PkeyPtr> keys;  // by certificate DER
  std::vector<std::string> refused;
  auto key_for = [&](const v1::SignedTreeHead& h) -> EVP_PKEY* {
    auto it = keys.find(h.signer_certificate());
    if (it == keys.end()) {
      auto key = LogKey(h, f, &chain_checked);
      if (!key.ok()) {
        refused.push_back(absl::StrCat("tree head of size ", h.tree_size(),
                                       ": ", key.status().message()));
      }
      it = keys.emplace(h.signer_certificate(),
                        key.ok() ? *std::move(key) : nullptr)
               .first;
    }
    return it->second.get();
  };
  std::vector<v1::SignedTreeHead> relevant;
  for (auto& h : *heads) {
    if (to == 0 || h.tree_size() <= to) relevant.push_back(h);
  }
  auto prefix = src.CompactRange(from);
  if (!prefix.ok()) return Fail(prefix.status());
  auto start = audit::CompactRange::FromHashes(from, *prefix);
  if (!start.ok()) return Fail(start.status());
  audit::LogVerifier verifier(*std::move(start), std::move(relevant), key_for);
  absl::Status s = src.ReadRecords(
      from, to == 0 ? 0 : to - from,
      [&](const v1::StoredRecord& r) { return verifier.Add(r); });
  if (!s.ok()) return Fail(s);
  audit::VerifyReport report = verifier.Finish();
  std::cout << (report.ok ? "VERIFIED  " : "FAILED  ") << report.records_checked
            << " records from #" << from << ", " << report.tree_heads_checked
            << " signed tree heads"
            << (chain_checked ? " (log certificate checked against the root)"
                              : " (log certificate NOT checked: give --ca)")
            << "\n";
  if (!report.ok) {
    std::cout << "  first problem: " << report.problem << "\n";
    if (!refused.empty()) std::cout << "  " << refused.front() << "\n";
    return 3;
  }
  if (keys.size() > 1) {
    std::cout << "  tree heads signed by " << keys.size()
              << " log certificates (a key rotation)\n";
  }
  if (report.uncovered_records > 0) {
    std::cout << "  " << report.uncovered_records
              << " newest record(s) not yet covered by a signed tree head\n";
  }
  return 0;
}

int RunNodeProof(AuditSource& src, const Flags& f) {
  auto seq = f.PositionalUint(0, "the record's sequence number");
  if (!seq.ok()) return Fail(seq.status());
  auto size = f.GetUint("tree-size");
  if (!size.ok()) return Fail(size.status());
  auto proof = src.Inclusion(*seq, *size);
  if (!proof.ok()) return Fail(proof.status());
  if (f.Has("json")) std::cout << Json(*proof) << "\n";
  bool chain_checked = false;
  auto key = LogKey(proof->tree_head(), f, &chain_checked);
  if (!key.ok()) return Fail(key.status());
  const bool sig_ok = audit::VerifyTreeHead(proof->tree_head(), key->get());
  const bool path_ok = audit::VerifyInclusion(
      proof->leaf_index(), proof->tree_size(), proof->leaf_hash(),
      {proof->path().begin(), proof->path().end()},
      proof->tree_head().root_hash());
  if (!f.Has("json")) {
    std::cout << (sig_ok && path_ok ? "PROVEN  " : "FAILED  ") << "record #"
              << proof->leaf_index() << " (leaf "
              << HexEncode(proof->leaf_hash()) << ") is in the tree of "
              << proof->tree_size() << " records\n"
              << "  root " << HexEncode(proof->tree_head().root_hash())
              << ", signed at "
              << FormatTime(
                     static_cast<int64_t>(proof->tree_head().timestamp_ms()) *
                     1000)
              << (sig_ok ? " (signature OK)" : " (signature BAD)") << "\n"
              << "  path of " << proof->path_size() << " hashes"
              << (path_ok ? " leads to the root" : " does NOT lead to the root")
              << "\n";
  }
  return sig_ok && path_ok ? 0 : 3;
}

int RunNodeConsistency(AuditSource& src, const Flags& f) {
  auto first = f.PositionalUint(0, "the first tree size");
  if (!first.ok()) return Fail(first.status());
  uint64_t second = 0;
  if (f.positional().size() > 1) {
    auto given = f.PositionalUint(1, "the second tree size");
    if (!given.ok()) return Fail(given.status());
    second = *given;
  }
  auto proof = src.Consistency(*first, second);
  if (!proof.ok()) return Fail(proof.status());
  if (f.Has("json")) std::cout << Json(*proof) << "\n";
  bool chain_checked = false;
  auto key = LogKey(proof->second_tree_head(), f, &chain_checked);
  if (!key.ok()) return Fail(key.status());
  const bool sigs =
      audit::VerifyTreeHead(proof->first_tree_head(), key->get()) &&
      audit::VerifyTreeHead(proof->second_tree_head(), key->get());
  const bool ok =
      audit::VerifyConsistency(proof->first_size(), proof->second_size(),
                               proof->first_tree_head().root_hash(),
                               proof->second_tree_head().root_hash(),
                               {proof->path().begin(), proof->path().end()});
  if (!f.Has("json")) {
    std::cout << (ok && sigs ? "CONSISTENT  " : "FAILED  ") << "the tree of "
              << proof->first_size() << " records is a prefix of the tree of "
              << proof->second_size() << " (" << proof->path_size()
              << " hashes; signatures " << (sigs ? "OK" : "BAD") << ")\n";
  }
  return ok && sigs ? 0 : 3;
}

int RunNodeSth(AuditSource& src, const Flags& f) {
  if (f.Has("list")) {
    auto heads = src.TreeHeads();
    if (!heads.ok()) return Fail(heads.status());
    for (const auto& h : *heads) {
      if (f.Has("json")) {
        std::cout << Json(h) << "\n";
      } else {
        std::cout << "size " << h.tree_size() << "  "
                  << FormatTime(static_cast<int64_t>(h.timestamp_ms()) * 1000)
                  << "  root " << HexEncode(h.root_hash()) << "\n";
      }
    }
    return 0;
  }
  auto size = f.GetUint("size");
  if (!size.ok()) return Fail(size.status());
  auto sth = src.TreeHead(*size);
  if (!sth.ok()) return Fail(sth.status());
  bool chain_checked = false;
  auto key = LogKey(*sth, f, &chain_checked);
  if (!key.ok()) return Fail(key.status());
  const bool ok = audit::VerifyTreeHead(*sth, key->get());
  if (f.Has("json")) {
    std::cout << Json(*sth) << "\n";
  } else {
    std::cout << "tree size  " << sth->tree_size() << "\nroot hash  "
              << HexEncode(sth->root_hash()) << "\nsigned at  "
              << FormatTime(static_cast<int64_t>(sth->timestamp_ms()) * 1000)
              << " UTC by node " << sth->node_id() << "\nsignature  "
              << (ok ? "OK" : "BAD")
              << (chain_checked ? ", certificate chains to the root" : "")
              << "\n";
  }
  const std::string dir = f.Get("save-dir");
  if (!dir.empty()) {
    auto cert = certs::ParseCertificateDer(sth->signer_certificate());
    absl::Status s = WriteFileAtomically(dir + "/sth.bin", sth->signed_bytes());
    if (s.ok()) s = WriteFileAtomically(dir + "/sth.sig.der", sth->signature());
    if (s.ok() && cert.ok()) {
      s = WriteFileAtomically(dir + "/log.pub.pem",
                              certs::PublicKeyPem(cert->get()));
    }
    if (!s.ok()) return Fail(s);
  }
  return ok ? 0 : 3;
}

}  // namespace dx::cli
