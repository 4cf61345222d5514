// How dxctl audit prints records and finds the key that signed a tree
// head; shared by the one-node and the cluster commands.
#ifndef DX_CLI_AUDIT_OUTPUT_H_
#define DX_CLI_AUDIT_OUTPUT_H_

#include <iostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/crypto.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "common/bytes.h"
#include "dx/v1/audit.pb.h"

namespace dx::cli {

std::string Short(const std::string& name);
std::string CsvField(const std::string& s);
// Who a record names; "(unverified)" when that is only what a refused
// request claimed (AuditRecord.identity_verified).
std::string Who(const v1::AuditRecord& r);

// Prints records as a table, JSON Lines or CSV.
class RecordPrinter {
 public:
  // `show_node`: name each record's node (a cluster's search).
  explicit RecordPrinter(std::string format, bool show_node = false)
      : format_(std::move(format)), show_node_(show_node) {}
  void Print(const v1::StoredRecord& s) {
    const v1::AuditRecord& r = s.record();
    if (format_ == "jsonl") {
      std::cout << Json(s.record()) << "\n";
      return;
    }
    std::vector<std::string> cols = {
        show_node_ ? absl::StrCat(r.node_id(), "#", s.sequence_number())
                   : absl::StrCat(s.sequence_number()),
        FormatTime(r.time_unix_micros()),
        v1::RecordKind_Name(r.kind()).substr(sizeof("RECORD_KIND_") - 1),
        Short(v1::Decision_Name(r.decision())),
        Who(r),
        r.kind() == v1::RECORD_KIND_ADMIN ? r.admin_action() : r.dataset_id(),
        r.purpose_code(),
        absl::StrJoin(r.returned_fields(), " "),
        absl::StrCat(r.record_count()),
        r.decision() == v1::DECISION_ALLOW ? ""
                                           : v1::ReasonCode_Name(r.reason()),
        r.request_id()};
    if (format_ == "csv") {
      if (!header_done_) {
        std::cout
            << "seq,time_utc,kind,decision,who,what,purpose,fields,records,"
               "reason,request_id\n";
        header_done_ = true;
      }
      std::vector<std::string> quoted;
      for (const auto& c : cols) quoted.push_back(CsvField(c));
      std::cout << absl::StrJoin(quoted, ",") << "\n";
      return;
    }
    std::cout << (show_node_ ? "" : "#") << cols[0] << "  " << cols[1] << "  "
              << cols[2] << "  " << cols[3] << "  " << cols[4] << " -> "
              << cols[5];
    if (!cols[6].empty()) std::cout << "  purpose=" << cols[6];
    if (r.kind() != v1::RECORD_KIND_ADMIN) std::cout << "  records=" << cols[8];
    if (!cols[9].empty() && r.kind() != v1::RECORD_KIND_ADMIN) {
      std::cout << "  " << cols[9];
    }
    std::cout << "\n";
    if (r.kind() == v1::RECORD_KIND_ADMIN) {
      std::cout << "      " << r.message() << "\n";
    } else {
      std::cout << "      leaf " << HexEncode(s.leaf_hash()).substr(0, 16)
                << "...  request " << r.request_id() << "\n";
    }
  }

 private:
  std::string format_;
  bool show_node_ = false;
  bool header_done_ = false;
};

// The search the flags describe (--since --until --consumer --provider
// --dataset --subject --request-id --decision).
absl::StatusOr<v1::AuditQuery> QueryFromFlags(const Flags& f);
// The subject report the flags ask for (--subject, required; --since --until).
absl::StatusOr<v1::SubjectReportRequest> SubjectReportFromFlags(const Flags& f);

// The key that signed `sth`: its certificate checked against --ca (and
// --intermediates) when given, at the tree head's time.
absl::StatusOr<certs::PkeyPtr> LogKey(const v1::SignedTreeHead& sth,
                                      const Flags& f, bool* chain_checked);

}  // namespace dx::cli

#endif  // DX_CLI_AUDIT_OUTPUT_H_
