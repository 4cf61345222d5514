#include "cli/audit_output.h"

#include <iostream>
#include <map>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "audit/attribution.h"
#include "cli/pki_layout.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/visible_text.h"

namespace dx::cli {

std::string Short(const std::string& name) {
  return name.substr(name.rfind('_') + 1);
}

std::string CsvField(const std::string& s) {
  // A spreadsheet runs a cell that starts with = + - @ (or a tab or CR
  // before one) as a formula: a consumer's purpose "=HYPERLINK(...)" would
  // become a live link in an auditor's sheet. Such a cell gets a leading
  // apostrophe, which spreadsheets show as text (OWASP's advice for CSV
  // injection); every other cell keeps its exact bytes.
  const bool formula = !s.empty() && std::string_view("=+-@\t\r").find(s[0]) !=
                                         std::string_view::npos;
  if (!formula && s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = formula ? "\"'" : "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

bool Claimed(const v1::StoredRecord& s) {
  return audit::EffectiveAttribution(s) == v1::ATTRIBUTION_CLAIMED;
}

std::string Who(const v1::StoredRecord& s) {
  const v1::AuditRecord& r = s.record();
  std::string who;
  if (r.kind() == v1::RECORD_KIND_ADMIN) {
    who = r.tls_agency();
  } else if (!r.consumer_agency().empty()) {
    who = r.consumer_agency() + "/" + r.consumer_system();
  } else if (!r.tls_agency().empty()) {
    who = r.tls_agency();
  }
  // An admin actor is a person's name (any script); an agency code and a
  // system id are ASCII, so a look-alike letter in one is named.
  who = r.kind() == v1::RECORD_KIND_ADMIN ? VisibleText(who) : VisibleCode(who);
  if (!r.consumer_successors().empty()) {
    // A merged agency's record (in its grace period, or refused after it):
    // the lineage, so that a reader sees who carries on its duties.
    std::vector<std::string> to;
    for (const auto& c : r.consumer_successors()) to.push_back(VisibleCode(c));
    absl::StrAppend(&who, " (succeeded by ", absl::StrJoin(to, ", "), ")");
  }
  if (!Claimed(s)) return who;
  return who.empty() ? "unknown caller, not verified"
                     : absl::StrCat("claimed to be ", who, ", not verified");
}

std::string JsonLine(const v1::StoredRecord& s) {
  // The record exactly as stored (strings unescaped), and the attribution
  // beside it, so that a reader never has to work it out.
  const std::string record = Json(s.record());
  const std::string attribution =
      absl::StrCat("\"attribution\":\"",
                   v1::Attribution_Name(audit::EffectiveAttribution(s)), "\"");
  if (record.size() < 2 || record.front() != '{') return record;
  return absl::StrCat("{", attribution, record.size() > 2 ? "," : "",
                      record.substr(1));
}

void RecordPrinter::Print(const v1::StoredRecord& s) {
  const v1::AuditRecord& r = s.record();
  if (format_ == "jsonl") {
    std::cout << JsonLine(s) << "\n";
    return;
  }
  const bool csv = format_ == "csv";
  // CSV keeps the exact bytes (an export); the table is for people.
  auto text = [&](const std::string& v) { return csv ? v : VisibleText(v); };
  std::string who = Who(s);
  if (csv) {
    // The exact names, and the attribution in a column of its own.
    who = r.kind() == v1::RECORD_KIND_ADMIN || r.consumer_agency().empty()
              ? r.tls_agency()
              : r.consumer_agency() + "/" + r.consumer_system();
  }
  std::vector<std::string> cols = {
      show_node_ ? absl::StrCat(text(r.node_id()), "#", s.sequence_number())
                 : absl::StrCat(s.sequence_number()),
      FormatTime(r.time_unix_micros()),
      v1::RecordKind_Name(r.kind()).substr(sizeof("RECORD_KIND_") - 1),
      Short(v1::Decision_Name(r.decision())),
      who,
      csv ? (r.kind() == v1::RECORD_KIND_ADMIN ? r.admin_action()
                                               : r.dataset_id())
      : r.kind() == v1::RECORD_KIND_ADMIN ? VisibleText(r.admin_action())
                                          : VisibleCode(r.dataset_id()),
      text(r.purpose_code()),
      text(absl::StrJoin(r.returned_fields(), " ")),
      absl::StrCat(r.record_count()),
      r.decision() == v1::DECISION_ALLOW ? "" : v1::ReasonCode_Name(r.reason()),
      text(r.request_id())};
  if (csv) {
    if (!header_done_) {
      std::cout << "seq,time_utc,kind,decision,who,what,purpose,fields,records,"
                   "reason,request_id,identity\n";
      header_done_ = true;
    }
    std::vector<std::string> quoted;
    for (const auto& c : cols) quoted.push_back(CsvField(c));
    quoted.push_back(Claimed(s) ? "claimed" : "verified");
    std::cout << absl::StrJoin(quoted, ",") << "\n";
    return;
  }
  const bool claimed = Claimed(s);
  std::cout << (show_node_ ? "" : "#") << cols[0] << "  " << cols[1] << "  "
            << cols[2] << "  " << cols[3] << "  " << cols[4] << " -> "
            << cols[5];
  // A claimed purpose is an unknown caller's words; a verified one is the
  // agency's signed declaration: either way a statement, not a finding.
  if (!cols[6].empty()) {
    std::cout << (claimed ? "  claimed purpose=" : "  purpose=") << cols[6];
  }
  if (r.kind() != v1::RECORD_KIND_ADMIN) std::cout << "  records=" << cols[8];
  if (!cols[9].empty() && r.kind() != v1::RECORD_KIND_ADMIN) {
    std::cout << "  " << cols[9];
  }
  std::cout << "\n";
  if (r.kind() == v1::RECORD_KIND_ADMIN) {
    std::cout << "      " << text(r.message()) << "\n";
  } else {
    std::cout << "      leaf " << HexEncode(s.leaf_hash()).substr(0, 16)
              << "...  request " << (claimed ? "(claimed) " : "") << cols[10];
    // Who really connected, as far as the gateway saw: the agency the TLS
    // client certificate named (the forger, when it is not the claimed one).
    if (claimed && !r.tls_agency().empty()) {
      std::cout << "  TLS certificate names " << VisibleCode(r.tls_agency());
    }
    std::cout << "\n";
  }
}

void PrintSubjectReport(const std::vector<v1::StoredRecord>& records,
                        const std::string& format, bool show_node,
                        const std::string& where) {
  RecordPrinter printer(format, show_node);
  if (format != "table") {
    for (const auto& r : records) printer.Print(r);
    return;
  }
  std::vector<const v1::StoredRecord*> verified, claimed, pushed;
  size_t served = 0;
  for (const auto& r : records) {
    // A subscription's batch names no one: it carried this person's record
    // among others' changes to an agency that subscribed to the dataset.
    if (r.record().kind() == v1::RECORD_KIND_SUBSCRIPTION_BATCH) {
      pushed.push_back(&r);
      continue;
    }
    (Claimed(r) ? claimed : verified).push_back(&r);
    if (!Claimed(r) && r.record().decision() == v1::DECISION_ALLOW) ++served;
  }
  std::cout << "Requests by verified agencies that named this person ("
            << served << " served, " << verified.size() - served
            << " refused or failed):\n";
  for (const auto* r : verified) printer.Print(*r);
  if (verified.empty()) std::cout << "  none\n";
  std::cout << "Attempts that named this person, NOT verified ("
            << claimed.size()
            << "): the agency, system, purpose and legal basis shown are "
               "only what an unproven request claimed; none is an access "
               "by the agency named:\n";
  for (const auto* r : claimed) printer.Print(*r);
  if (claimed.empty()) std::cout << "  none\n";
  std::cout << "Changes to this person's record pushed to agencies that "
               "subscribed to the dataset ("
            << pushed.size() << " batch(es)):\n";
  for (const auto* r : pushed) printer.Print(*r);
  if (pushed.empty()) std::cout << "  none\n";
  std::cout << served << " access(es) to data about this person, "
            << verified.size() - served
            << " refused or failed request(s) by verified agencies, "
            << claimed.size() << " unverified attempt(s), " << pushed.size()
            << " pushed change batch(es)" << where << "\n";
}

void PrintRecordRecipients(const std::vector<v1::StoredRecord>& records,
                           const v1::RecordRecipientsRequest& request,
                           const std::string& format, bool show_node,
                           const std::string& where) {
  RecordPrinter printer(format, show_node);
  for (const auto& r : records) printer.Print(r);
  if (format != "table") return;
  // Per agency: how it received the record.
  struct Ways {
    int lookups = 0, streams = 0, batches = 0;
  };
  std::map<std::string, Ways> by_agency;
  for (const auto& r : records) {
    // A follow-up repeats what its exchange delivered: counted once, there.
    if (r.record().kind() == v1::RECORD_KIND_NOT_DELIVERED) continue;
    Ways& w = by_agency[r.record().consumer_agency()];
    switch (r.record().kind()) {
      case v1::RECORD_KIND_SUBSCRIPTION_BATCH:
        ++w.batches;
        break;
      case v1::RECORD_KIND_STREAM_END:
        ++w.streams;
        break;
      default:
        ++w.lookups;
    }
  }
  if (records.empty()) std::cout << "  none\n";
  std::cout << "Record " << request.record_key() << " of "
            << request.dataset_id() << " was delivered to " << by_agency.size()
            << " agency(ies)" << where << (by_agency.empty() ? "" : ":")
            << "\n";
  for (const auto& [agency, w] : by_agency) {
    std::cout << "  " << VisibleCode(agency) << "  " << w.lookups
              << " look-up(s), " << w.streams << " stream(s), " << w.batches
              << " subscription batch(es)\n";
  }
}

absl::StatusOr<v1::RecordRecipientsRequest> RecordRecipientsFromFlags(
    const Flags& f) {
  v1::RecordRecipientsRequest req;
  req.set_dataset_id(f.Get("dataset"));
  req.set_record_key(f.Get("record"));
  if (req.dataset_id().empty() || req.record_key().empty()) {
    return absl::InvalidArgumentError(
        "give --dataset ID and --record KEY (the value of the dataset's "
        "first field)");
  }
  DX_ASSIGN_OR_RETURN(int64_t since, ParseWhen(f.Get("since"), "since"));
  DX_ASSIGN_OR_RETURN(int64_t until, ParseWhen(f.Get("until"), "until"));
  req.set_from_unix_micros(since);
  req.set_to_unix_micros(until);
  return req;
}

absl::StatusOr<certs::PkeyPtr> LogKey(const v1::SignedTreeHead& sth,
                                      const Flags& f, bool* chain_checked) {
  const PkiLayout pki{f.Get("pki")};
  const std::string ca = f.Get("ca", pki.dir.empty() ? "" : pki.root_ca());
  const std::string inter =
      f.Get("intermediates", pki.dir.empty() ? "" : pki.intermediates());
  *chain_checked = !ca.empty();
  if (ca.empty()) {
    return certs::PublicKeyOfDer(sth.signer_certificate());
  }
  DX_ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(ca));
  DX_ASSIGN_OR_RETURN(auto roots, certs::PemBundleToDer(ca_pem));
  std::vector<std::string> intermediates;
  if (!inter.empty()) {
    DX_ASSIGN_OR_RETURN(std::string pem, ReadFile(inter));
    DX_ASSIGN_OR_RETURN(intermediates, certs::PemBundleToDer(pem));
  }
  return certs::VerifyChainAt(sth.signer_certificate(), intermediates, roots,
                              static_cast<int64_t>(sth.timestamp_ms() / 1000));
}

absl::StatusOr<v1::SubjectReportRequest> SubjectReportFromFlags(
    const Flags& f) {
  v1::SubjectReportRequest req;
  req.set_data_subject_id(f.Get("subject"));
  if (req.data_subject_id().empty()) {
    return absl::InvalidArgumentError("give --subject ID");
  }
  DX_ASSIGN_OR_RETURN(int64_t since, ParseWhen(f.Get("since"), "since"));
  DX_ASSIGN_OR_RETURN(int64_t until, ParseWhen(f.Get("until"), "until"));
  req.set_from_unix_micros(since);
  req.set_to_unix_micros(until);
  return req;
}

absl::StatusOr<v1::AuditQuery> QueryFromFlags(const Flags& f) {
  v1::AuditQuery q;
  DX_ASSIGN_OR_RETURN(int64_t since, ParseWhen(f.Get("since"), "since"));
  DX_ASSIGN_OR_RETURN(int64_t until, ParseWhen(f.Get("until"), "until"));
  q.set_from_unix_micros(since);
  q.set_to_unix_micros(until);
  q.set_consumer_agency(f.Get("consumer"));
  q.set_provider_agency(f.Get("provider"));
  q.set_dataset_id(f.Get("dataset"));
  q.set_data_subject_id(f.Get("subject"));
  q.set_request_id(f.Get("request-id"));
  if (f.Has("lineage")) {
    if (q.consumer_agency().empty()) {
      return absl::InvalidArgumentError(
          "--lineage needs --consumer CODE (the code whose lineage to search)");
    }
    q.set_consumer_lineage(true);
  }
  const std::string d = f.Get("decision");
  if (d == "allow")
    q.set_decision(v1::DECISION_ALLOW);
  else if (d == "deny")
    q.set_decision(v1::DECISION_DENY);
  else if (d == "error")
    q.set_decision(v1::DECISION_ERROR);
  else if (!d.empty())
    return absl::InvalidArgumentError("--decision is allow, deny or error");
  return q;
}

}  // namespace dx::cli
