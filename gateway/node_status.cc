#include "gateway/node_status.h"

#include "absl/strings/str_cat.h"
#include "common/bytes.h"
#include "common/log.h"

namespace dx::gateway {

v1::NodeStatus NodeStatusOf(const NodeStatusSources& s) {
  v1::NodeStatus out;
  out.set_node_id(s.node_id);
  const absl::Status why = s.not_serving();
  out.set_serving(why.ok());
  out.set_not_serving_reason(std::string(why.message()));
  out.set_policy_revision(s.policy_revision());
  out.set_registry_revision(s.registry_revision());
  out.set_state(s.state);
  out.set_audit_records(s.audit_records());
  out.set_started_unix_micros(absl::ToUnixMicros(s.started));
  if (s.trail != nullptr) {
    if (auto known = s.trail->KnownNodes(); known.ok()) {
      for (auto& n : *known) *out.add_known_nodes() = std::move(n);
    }
    if (auto alarms = s.trail->Alarms(); alarms.ok()) {
      for (auto& a : *alarms) *out.add_audit_alarms() = std::move(a);
    }
  }
  if (auto members = s.runtime->Members(); members.ok()) {
    for (auto& m : *members) *out.add_members() = std::move(m);
  }
  if (auto head = s.tree_head(); head.ok()) {
    out.set_tree_head_size(head->tree_size());
    out.set_tree_head_unix_millis(static_cast<int64_t>(head->timestamp_ms()));
  }
  for (const certs::Expiry& e : s.expiries()) {
    v1::CertificateExpiry* x = out.add_expiries();
    x->set_what(e.what);
    x->set_subject(e.subject);
    x->set_not_after_unix(absl::ToUnixSeconds(e.not_after));
  }
  return out;
}

std::vector<certs::Expiry> NodeExpiries(const v1::GatewayConfig& config) {
  std::vector<std::pair<std::string, std::string>> files = {
      {config.tls().cert_file(), "gateway TLS"},
      {config.signing().cert_file(), "signing"},
      {config.audit().log_signing().cert_file(), "log signing"},
      {config.trust().ca_file(), "trust anchor"},
      {config.trust().intermediates_file(), "intermediate"}};
  std::vector<certs::Expiry> out;
  for (const auto& [file, what] : files) {
    if (file.empty()) continue;
    auto found = certs::CertificateExpiries(file, what);
    if (!found.ok()) continue;
    // A leaf's chain repeats its issuers: only the leaf is "what".
    out.push_back(found->front());
    if (what == "trust anchor" || what == "intermediate") {
      out.insert(out.end(), found->begin() + 1, found->end());
    }
  }
  for (const std::string& file : config.trust().crl_files()) {
    auto found = certs::CrlNextUpdates(file);
    if (found.ok()) out.insert(out.end(), found->begin(), found->end());
  }
  return out;
}

absl::StatusOr<v1::BackupManifest> RecordedBackup(
    const BackupSources& sources, const std::string& actor,
    const std::string& out_dir, audit::AdminRecorder* recorder) {
  auto m = TakeBackup(sources, out_dir);
  const std::string detail =
      m.ok()
          ? absl::StrCat(
                "into ", out_dir, ": ", m->audit_records(),
                " records, tree head of size ", m->tree_head().tree_size(),
                " root ", HexEncode(m->tree_head().root_hash()),
                m->policy_included()
                    ? absl::StrCat(", policy revision ", m->policy_revision())
                    : std::string(", policy in etcd (not included)"))
          : absl::StrCat("into ", out_dir, " failed: ", m.status().message());
  // The record names who took it; a failed backup is recorded as such.
  (void)recorder->Record(
      actor, m.ok() ? "gateway.backup" : "gateway.backup-failed", detail);
  LogEvent("dxgate", "info", absl::StrCat("backup by ", actor, " ", detail));
  return m;
}

}  // namespace dx::gateway
