// dxctl audit: search, prove and verify the audit log.
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

int RunVerify(AuditSource& src, const Flags& f) {
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

int RunProof(AuditSource& src, const Flags& f) {
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

int RunConsistency(AuditSource& src, const Flags& f) {
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

int RunSth(AuditSource& src, const Flags& f) {
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

int RunExport(AuditSource& src, const Flags& f, const std::string& out_path,
              uint64_t from, uint64_t to, std::string* sha256 = nullptr) {
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
  return r.ok ? 0 : 3;
}

int RunPrune(AuditSource& src, const Flags& f) {
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
  if (int rc = RunExport(src, f, out, first, end, &sha); rc != 0) return rc;
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

// Runs `run` on the log the connection flags name.
std::function<int(const Flags&)> OnLog(
    std::function<int(AuditSource&, const Flags&)> run) {
  return [run = std::move(run)](const Flags& f) {
    if (IsClusterAudit(f)) {
      return Fail(absl::InvalidArgumentError(
          "this command reads one node's log: give one address in --gateway "
          "(query, subject-report, get, proof and verify take a cluster)"));
    }
    auto src = OpenAuditSource(f);
    if (!src.ok()) return Fail(src.status());
    return run(**src, f);
  };
}

// One node's log, or every node's of a cluster (cli/cluster_audit.h).
std::function<int(const Flags&)> OnLogOrCluster(
    std::function<int(AuditSource&, const Flags&)> one,
    std::function<int(const Flags&)> cluster) {
  auto single = OnLog(std::move(one));
  return [single = std::move(single),
          cluster = std::move(cluster)](const Flags& f) {
    if (IsClusterAudit(f) && !f.Has("data-dir")) return cluster(f);
    if (f.Has("node") || f.Has("cursor") || f.Has("allow-partial")) {
      return Fail(absl::InvalidArgumentError(
          "--node, --cursor and --allow-partial are for a cluster: give "
          "--gateway a,b,c or --cluster"));
    }
    return single(f);
  };
}

int RunList(AuditSource& s, const Flags& f) {
  auto from = f.GetUint("from");
  auto limit = f.GetUint("limit", 50);
  if (!from.ok()) return Fail(from.status());
  if (!limit.ok()) return Fail(limit.status());
  RecordPrinter printer(f.Has("json") ? "jsonl" : "table");
  absl::Status st =
      s.ReadRecords(*from, *limit, [&](const v1::StoredRecord& r) {
        printer.Print(r);
        return true;
      });
  return st.ok() ? 0 : Fail(st);
}

int RunQuery(AuditSource& s, const Flags& f) {
  RecordPrinter printer(f.Get("format", "table"));
  auto limit = f.GetUint("limit", 100);
  auto page_size = f.GetUint("page-size", 100);
  if (!limit.ok()) return Fail(limit.status());
  if (!page_size.ok()) return Fail(page_size.status());
  auto q = QueryFromFlags(f);
  if (!q.ok()) return Fail(q.status());
  uint64_t printed = 0;
  auto print = [&](const v1::StoredRecord& r) {
    if (printed >= *limit) return false;
    printer.Print(r);
    ++printed;
    return true;
  };
  q->set_page_size(static_cast<uint32_t>(std::min(*page_size, *limit)));
  std::string token;
  do {
    q->set_page_token(token);
    absl::Status st = s.QueryPage(*q, print, &token);
    if (!st.ok()) return Fail(st);
  } while (!token.empty() && printed < *limit);
  return 0;
}

int RunSubjectReport(AuditSource& s, const Flags& f) {
  auto request = SubjectReportFromFlags(f);
  if (!request.ok()) return Fail(request.status());
  std::vector<v1::StoredRecord> all;
  absl::Status st = s.SubjectReport(*request, [&](const v1::StoredRecord& r) {
    all.push_back(r);
    return true;
  });
  if (!st.ok()) return Fail(st);
  PrintSubjectReport(all, f.Get("format", "table"), /*show_node=*/false, "");
  return 0;
}

int RunGet(AuditSource& s, const Flags& f) {
  auto seq = f.PositionalUint(0, "the record's sequence number");
  if (!seq.ok()) return Fail(seq.status());
  auto rec = s.Get(*seq);
  if (!rec.ok()) return Fail(rec.status());
  if (f.Has("json")) {
    std::cout << Json(*rec) << "\n";
    return 0;
  }
  std::cout << "record #" << rec->sequence_number() << "  leaf "
            << HexEncode(rec->leaf_hash()) << "\n";
  if (Claimed(*rec)) {
    std::cout << "identity NOT VERIFIED: the agency, system, request id, "
                 "purpose, legal basis and data subject below are only what "
                 "a refused request claimed\n";
  } else {
    std::cout << "identity verified: " << Who(*rec) << "\n";
  }
  // One field a line; hidden characters in any string shown as <U+XXXX>.
  for (absl::string_view line :
       absl::StrSplit(rec->record().Utf8DebugString(), '\n')) {
    if (!line.empty()) std::cout << VisibleText(line) << "\n";
  }
  return 0;
}

int RunExportCommand(AuditSource& s, const Flags& f) {
  auto from = f.GetUint("from");
  auto to = f.GetUint("to");
  if (!from.ok()) return Fail(from.status());
  if (!to.ok()) return Fail(to.status());
  if (!f.Has("out")) return Fail(absl::InvalidArgumentError("give --out FILE"));
  return RunExport(s, f, f.Get("out"), *from, *to);
}

const CommandTable& AuditTable() {
  static const auto* table = new CommandTable{
      "audit",
      R"(usage: dxctl audit COMMAND [flags]

Where the log is (one of):
  --gateway HOST:PORT --pki DIR [--person NAME | --agency CODE]   (or --ca --cert --key)
  --data-dir DIR        a gateway's data folder, opened read-only
A cluster (query, subject-report, get, proof, verify ask every node):
  --gateway A,B,C       these nodes; or --gateway A --cluster: every node A
                        knows of through etcd, alive or not
  --node ID             whose record (get, proof: sequence numbers are per node)
  --cursor C            the next page of a query (printed when there is one)
  --allow-partial       answer even when a node cannot be asked (it is named)

commands:
)",
      R"(
Times: RFC 3339 (2026-11-23T08:00:00Z), a date (2026-11-23), or an age (2h).
Exit codes: 0 done, 1 refused or failed, 2 usage error, 3 did not verify.
)",
      {"gateway", "pki", "person", "agency", "ca", "intermediates", "cert",
       "key", "data-dir", "node", "cursor"},
      {"cluster", "allow-partial"},
      {
          {"list",
           "list [--from N] [--limit N] [--json]",
           "records in order",
           {"from", "limit"},
           {"json"},
           {"from", "limit"},
           OnLog(RunList)},
          {"query",
           "query [filters] [--limit N] [--page-size N] [--format "
           "table|jsonl|csv]",
           "search; filters: --since TIME --until TIME --consumer CODE\n"
           "--provider CODE --dataset ID --subject ID --decision "
           "allow|deny|error --request-id ID",
           {"since", "until", "consumer", "provider", "dataset", "subject",
            "decision", "request-id", "limit", "page-size", "format"},
           {},
           {"limit", "page-size"},
           OnLogOrCluster(RunQuery, RunClusterQuery)},
          {"get",
           "get SEQ [--json]",
           "one record",
           {},
           {"json"},
           {},
           OnLogOrCluster(RunGet, RunClusterGet)},
          {"proof",
           "proof SEQ [--tree-size N] [--json]",
           "inclusion proof, checked here",
           {"tree-size"},
           {"json"},
           {"tree-size"},
           OnLogOrCluster(RunProof, RunClusterProof)},
          {"consistency",
           "consistency FIRST [SECOND] [--json]",
           "consistency proof, checked here",
           {},
           {"json"},
           {},
           OnLog(RunConsistency)},
          {"sth",
           "sth [--size N] [--list] [--json] [--save-dir DIR]",
           "signed tree heads (--save-dir writes sth.bin, sth.sig.der,\n"
           "log.pub.pem for openssl)",
           {"size", "save-dir"},
           {"list", "json"},
           {"size"},
           OnLog(RunSth)},
          {"verify",
           "verify [--from N] [--to N]",
           "recompute the tree from the records and check every signed tree "
           "head",
           {"from", "to"},
           {},
           {"from", "to"},
           OnLogOrCluster(RunVerify, RunClusterVerify)},
          {"export",
           "export --out FILE [--from N] [--to N]   (a cluster: [--since T] "
           "[--until T])",
           "a self-contained, verifiable bundle; of a cluster, every node's\n"
           "records with the checkpoints that cover them",
           {"out", "from", "to", "since", "until"},
           {},
           {"from", "to"},
           OnLogOrCluster(RunExportCommand, RunClusterExport)},
          {"verify-bundle",
           "verify-bundle FILE [--ca ROOT.pem]",
           "check a bundle offline",
           {},
           {},
           {},
           RunVerifyBundle},
          {"subject-report",
           "subject-report --subject ID [--since T] [--until T] [--format ...]",
           "every access to one person's data",
           {"subject", "since", "until", "format"},
           {},
           {},
           OnLogOrCluster(RunSubjectReport, RunClusterSubjectReport)},
          {"prune",
           "prune --before TIME --out FILE",
           "export, verify, then prune (operator)",
           {"before", "out"},
           {},
           {},
           OnLog(RunPrune)},
      }};
  return *table;
}

}  // namespace

int RunNodeGet(AuditSource& s, const Flags& f) { return RunGet(s, f); }
int RunNodeProof(AuditSource& s, const Flags& f) { return RunProof(s, f); }
int RunNodeVerify(AuditSource& s, const Flags& f) { return RunVerify(s, f); }

int RunAudit(const std::vector<std::string>& args) {
  return Dispatch(AuditTable(), args);
}

}  // namespace dx::cli
