// dxctl audit query and subject-report over a cluster: every node asked,
// the answers merged by time (cli/cluster_merge.h), a query paged with
// --cursor.
#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "cli/audit_output.h"
#include "cli/cluster_audit.h"
#include "cli/cluster_merge.h"
#include "cli/cluster_nodes.h"
#include "cli/output.h"

namespace dx::cli {
namespace {

int Fail(const absl::Status& s) { return cli::Fail("audit", s); }

}  // namespace

int RunClusterQuery(const Flags& f) {
  auto limit = f.GetUint("limit", 100);
  auto page_size = f.GetUint("page-size", 100);
  if (!limit.ok()) return Fail(limit.status());
  if (!page_size.ok()) return Fail(page_size.status());
  auto q = QueryFromFlags(f);
  if (!q.ok()) return Fail(q.status());
  q->set_page_size(static_cast<uint32_t>(std::min(*page_size, *limit)));
  v1::ClusterQueryCursor cursor;
  if (f.Has("cursor")) {
    auto given = DecodeCursor(f.Get("cursor"));
    if (!given.ok()) return Fail(given.status());
    cursor = *std::move(given);
  }
  auto nodes = ClusterNodes(f);
  if (!nodes.ok()) return Fail(nodes.status());

  std::vector<std::string> readable, unreadable;
  std::map<std::string, ClusterNode*> by_key;
  for (ClusterNode& n : *nodes) {
    // Named by its address when it could not even say who it is.
    const std::string key = n.id.empty() ? n.address : n.id;
    by_key[key] = &n;
    (n.problem.ok() ? readable : unreadable).push_back(key);
  }
  ClusterMerge merge(
      readable, unreadable, cursor,
      [&](const std::string& node,
          const std::string& page_token) -> absl::StatusOr<ClusterMerge::Page> {
        v1::AuditQuery page_query = *q;
        page_query.set_page_token(page_token);
        ClusterMerge::Page page;
        absl::Status st = by_key.at(node)->source->QueryPage(
            page_query,
            [&](const v1::StoredRecord& r) {
              page.records.push_back(r);
              return true;
            },
            &page.next_token);
        if (!st.ok()) return st;
        return page;
      });
  merge.Start();

  RecordPrinter printer(f.Get("format", "table"), /*show_node=*/true);
  uint64_t printed = 0;
  while (printed < *limit) {
    std::optional<v1::StoredRecord> r = merge.Next();
    if (!r) break;
    printer.Print(*r);
    ++printed;
  }
  if (merge.More()) {
    std::cerr << "more: repeat with --cursor " << EncodeCursor(merge.Cursor())
              << "\n";
  }
  if (f.Get("format", "table") == "table") {
    std::cerr << printed << " record(s) from " << merge.streams() << " of "
              << nodes->size() << " node(s)\n";
  }
  std::vector<const ClusterNode*> missed;
  for (ClusterNode& n : *nodes) {
    if (!n.problem.ok()) missed.push_back(&n);
  }
  for (const ClusterMerge::Miss& m : merge.missed()) {
    by_key.at(m.node)->problem = m.problem;
    missed.push_back(by_key.at(m.node));
  }
  return ReportMissed(missed, f);
}

namespace {

// The records `ask` finds on every node answering, in log order; the
// nodes that could not be asked are added to `missed`.
using AskNode =
    std::function<absl::Status(AuditSource&, const AuditSource::RecordFn&)>;
std::vector<v1::StoredRecord> FromEveryNode(
    std::vector<ClusterNode>& nodes, const AskNode& ask,
    std::vector<const ClusterNode*>* missed) {
  std::vector<v1::StoredRecord> all;
  for (ClusterNode& n : nodes) {
    if (n.problem.ok()) {
      std::vector<v1::StoredRecord> mine;
      n.problem = ask(*n.source, [&](const v1::StoredRecord& r) {
        mine.push_back(r);
        return true;
      });
      if (n.problem.ok()) all.insert(all.end(), mine.begin(), mine.end());
    }
    if (!n.problem.ok()) missed->push_back(&n);
  }
  std::sort(all.begin(), all.end(), RecordBefore);
  return all;
}

std::string OnNodes(size_t all, size_t missed) {
  return absl::StrCat(", on ", all - missed, " of ", all, " node(s)");
}

}  // namespace

int RunClusterSubjectReport(const Flags& f) {
  auto request = SubjectReportFromFlags(f);
  if (!request.ok()) return Fail(request.status());
  auto nodes = ClusterNodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  std::vector<const ClusterNode*> missed;
  const auto all = FromEveryNode(
      *nodes,
      [&](AuditSource& s, const AuditSource::RecordFn& emit) {
        return s.SubjectReport(*request, emit);
      },
      &missed);
  PrintSubjectReport(all, f.Get("format", "table"), /*show_node=*/true,
                     OnNodes(nodes->size(), missed.size()));
  return ReportMissed(missed, f);
}

int RunClusterRecordRecipients(const Flags& f) {
  auto request = RecordRecipientsFromFlags(f);
  if (!request.ok()) return Fail(request.status());
  auto nodes = ClusterNodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  std::vector<const ClusterNode*> missed;
  const auto all = FromEveryNode(
      *nodes,
      [&](AuditSource& s, const AuditSource::RecordFn& emit) {
        return s.RecordRecipients(*request, emit);
      },
      &missed);
  PrintRecordRecipients(all, *request, f.Get("format", "table"),
                        /*show_node=*/true,
                        OnNodes(nodes->size(), missed.size()));
  return ReportMissed(missed, f);
}

}  // namespace dx::cli
