// dxctl audit: search, prove and verify the audit log.
#include <cstdio>
#include <iostream>
#include <map>

#include "absl/strings/match.h"
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

int RunRecordRecipients(AuditSource& s, const Flags& f) {
  auto request = RecordRecipientsFromFlags(f);
  if (!request.ok()) return Fail(request.status());
  std::vector<v1::StoredRecord> all;
  absl::Status st =
      s.RecordRecipients(*request, [&](const v1::StoredRecord& r) {
        all.push_back(r);
        return true;
      });
  if (!st.ok()) return Fail(st);
  PrintRecordRecipients(all, *request, f.Get("format", "table"),
                        /*show_node=*/false, "");
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
  // One field a line; hidden characters in any string shown as <U+XXXX>,
  // and in the fields that are codes (ASCII by their standard) every
  // letter past ASCII too, so that a look-alike agency code is seen.
  for (absl::string_view line :
       absl::StrSplit(rec->record().Utf8DebugString(), '\n')) {
    if (line.empty()) continue;
    const bool code = absl::StartsWith(line, "tls_agency:") ||
                      absl::StartsWith(line, "consumer_agency:") ||
                      absl::StartsWith(line, "consumer_system:") ||
                      absl::StartsWith(line, "provider_agency:") ||
                      absl::StartsWith(line, "dataset_id:") ||
                      absl::StartsWith(line, "node_id:");
    std::cout << (code && rec->record().kind() != v1::RECORD_KIND_ADMIN
                      ? VisibleCode(line)
                      : VisibleText(line))
              << "\n";
  }
  return 0;
}

int RunExportCommand(AuditSource& s, const Flags& f) {
  auto from = f.GetUint("from");
  auto to = f.GetUint("to");
  if (!from.ok()) return Fail(from.status());
  if (!to.ok()) return Fail(to.status());
  if (!f.Has("out")) return Fail(absl::InvalidArgumentError("give --out FILE"));
  return RunNodeExport(s, f, f.Get("out"), *from, *to, nullptr);
}

const CommandTable& AuditTable() {
  static const auto* table = new CommandTable{
      "audit",
      R"(usage: dxctl audit COMMAND [flags]

Where the log is (one of):
  --gateway HOST:PORT --pki DIR (--person NAME | --agency CODE)   (or --ca --cert --key)
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
           "allow|deny|error --request-id ID;\n--lineage: --consumer's "
           "predecessors and successors too (merged agencies)",
           {"since", "until", "consumer", "provider", "dataset", "subject",
            "decision", "request-id", "limit", "page-size", "format"},
           {"lineage"},
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
           OnLogOrCluster(RunNodeProof, RunClusterProof)},
          {"consistency",
           "consistency FIRST [SECOND] [--json]",
           "consistency proof, checked here",
           {},
           {"json"},
           {},
           OnLog(RunNodeConsistency)},
          {"sth",
           "sth [--size N] [--list] [--json] [--save-dir DIR]",
           "signed tree heads (--save-dir writes sth.bin, sth.sig.der,\n"
           "log.pub.pem for openssl)",
           {"size", "save-dir"},
           {"list", "json"},
           {"size"},
           OnLog(RunNodeSth)},
          {"verify",
           "verify [--from N] [--to N]",
           "recompute the tree from the records and check every signed tree "
           "head",
           {"from", "to"},
           {},
           {"from", "to"},
           OnLogOrCluster(RunNodeVerify, RunClusterVerify)},
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
           "verify-bundle FILE [--ca ROOT.pem] [--tsa-ca AUTHORITY.pem]",
           "check a bundle offline (--tsa-ca: its RFC 3161 time-stamps too)",
           {"tsa-ca"},
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
          {"recipients",
           "recipients --dataset ID --record KEY [--since T] [--until T] "
           "[--format ...]",
           "who received one record (look-ups, streams, subscriptions)",
           {"dataset", "record", "since", "until", "format"},
           {},
           {},
           OnLogOrCluster(RunRecordRecipients, RunClusterRecordRecipients)},
          {"prune",
           "prune --before TIME --out FILE",
           "export, verify, then prune (operator)",
           {"before", "out"},
           {},
           {},
           OnLog(RunNodePrune)},
      }};
  return *table;
}

}  // namespace

int RunNodeGet(AuditSource& s, const Flags& f) { return RunGet(s, f); }

int RunAudit(const std::vector<std::string>& args) {
  return Dispatch(AuditTable(), args);
}

}  // namespace dx::cli
