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
// True when the record's names are only what an unproven request claimed
// (audit::EffectiveAttribution).
bool Claimed(const v1::StoredRecord& s);
// Who a record names, for people: "claimed to be X/system, not verified"
// when that is only what a refused request claimed; hidden characters
// shown as <U+XXXX>.
std::string Who(const v1::StoredRecord& s);
// A record as one JSON line: the AuditRecord exactly (JSON escapes only),
// with "attribution" (ATTRIBUTION_VERIFIED or ATTRIBUTION_CLAIMED) added.
std::string JsonLine(const v1::StoredRecord& s);

// Prints records as a table, JSON Lines or CSV. The table shows hidden
// characters visibly (common/visible_text.h) and marks claims; JSON Lines
// and CSV keep the exact strings and carry the attribution (a key, a last
// column "identity": verified or claimed).
class RecordPrinter {
 public:
  // `show_node`: name each record's node (a cluster's search).
  explicit RecordPrinter(std::string format, bool show_node = false)
      : format_(std::move(format)), show_node_(show_node) {}
  void Print(const v1::StoredRecord& s);

 private:
  std::string format_;
  bool show_node_ = false;
  bool header_done_ = false;
};

// A subject report: as a table, the requests of verified agencies apart
// from the attempts that only claimed an agency, with counts (`where`
// ends the last line, e.g. ", on 3 of 3 node(s)"); JSON Lines and CSV as
// RecordPrinter, every record marked.
void PrintSubjectReport(const std::vector<v1::StoredRecord>& records,
                        const std::string& format, bool show_node,
                        const std::string& where);

// The search the flags describe (--since --until --consumer --provider
// --dataset --subject --request-id --decision).
absl::StatusOr<v1::AuditQuery> QueryFromFlags(const Flags& f);
// The subject report the flags ask for (--subject, required; --since --until).
absl::StatusOr<v1::SubjectReportRequest> SubjectReportFromFlags(const Flags& f);

// `dxctl audit recipients`: every delivery of one record (table: each
// record, then who received it and how; jsonl: the records).
void PrintRecordRecipients(const std::vector<v1::StoredRecord>& records,
                           const v1::RecordRecipientsRequest& request,
                           const std::string& format, bool show_node,
                           const std::string& where);
absl::StatusOr<v1::RecordRecipientsRequest> RecordRecipientsFromFlags(
    const Flags& f);

// The key that signed `sth`: its certificate checked against --ca (and
// --intermediates) when given, at the tree head's time.
absl::StatusOr<certs::PkeyPtr> LogKey(const v1::SignedTreeHead& sth,
                                      const Flags& f, bool* chain_checked);

}  // namespace dx::cli

#endif  // DX_CLI_AUDIT_OUTPUT_H_
