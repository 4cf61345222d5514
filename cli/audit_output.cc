#include "cli/audit_output.h"

#include "cli/pki_layout.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace dx::cli {

std::string Short(const std::string& name) {
  return name.substr(name.rfind('_') + 1);
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Who a record names; "(unverified)" when that is only what a refused
// request claimed (AuditRecord.identity_verified).
std::string Who(const v1::AuditRecord& r) {
  std::string who;
  if (r.kind() == v1::RECORD_KIND_ADMIN) {
    who = r.tls_agency();
  } else if (!r.consumer_agency().empty()) {
    who = r.consumer_agency() + "/" + r.consumer_system();
  } else if (!r.tls_agency().empty()) {
    who = r.tls_agency();
  }
  if (!r.identity_verified() && r.decision() != v1::DECISION_ALLOW &&
      !who.empty()) {
    who += " (unverified)";
  }
  return who;
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
