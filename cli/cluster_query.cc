// dxctl audit query and subject-report over a cluster: every node asked,
// the answers merged by time (cli/cluster_merge.h), a query paged with
// --cursor.
#include <algorithm>
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

int RunClusterSubjectReport(const Flags& f) {
  auto request = SubjectReportFromFlags(f);
  if (!request.ok()) return Fail(request.status());
  const v1::SubjectReportRequest& req = *request;
  auto nodes = ClusterNodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  std::vector<v1::StoredRecord> all;
  std::vector<const ClusterNode*> missed;
  for (ClusterNode& n : *nodes) {
    if (n.problem.ok()) {
      std::vector<v1::StoredRecord> mine;
      n.problem = n.source->SubjectReport(req, [&](const v1::StoredRecord& r) {
        mine.push_back(r);
        return true;
      });
      if (n.problem.ok()) all.insert(all.end(), mine.begin(), mine.end());
    }
    if (!n.problem.ok()) missed.push_back(&n);
  }
  std::sort(all.begin(), all.end(), RecordBefore);
  PrintSubjectReport(all, f.Get("format", "table"), /*show_node=*/true,
                     absl::StrCat(", on ", nodes->size() - missed.size(),
                                  " of ", nodes->size(), " node(s)"));
  return ReportMissed(missed, f);
}

int RunClusterRecordRecipients(const Flags& f) {
  auto request = RecordRecipientsFromFlags(f);
  if (!request.ok()) return Fail(request.status());
  auto nodes = ClusterNodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  std::vector<v1::StoredRecord> all;
  std::vector<const ClusterNode*> missed;
  for (ClusterNode& n : *nodes) {
    if (n.problem.ok()) {
      std::vector<v1::StoredRecord> mine;
      n.problem =
          n.source->RecordRecipients(*request, [&](const v1::StoredRecord& r) {
            mine.push_back(r);
            return true;
          });
      if (n.problem.ok()) all.insert(all.end(), mine.begin(), mine.end());
    }
    if (!n.problem.ok()) missed.push_back(&n);
  }
  std::sort(all.begin(), all.end(), RecordBefore);
  PrintRecordRecipients(all, *request, f.Get("format", "table"),
                        /*show_node=*/true,
                        absl::StrCat(", on ", nodes->size() - missed.size(),
                                     " of ", nodes->size(), " node(s)"));
  return ReportMissed(missed, f);
}

}  // namespace dx::cli
