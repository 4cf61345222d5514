#include "gateway/node_metrics.h"

#include <sys/statvfs.h>

#include <filesystem>

#include "audit/audit_reader.h"
#include "audit/rocksdb_audit_log.h"
#include "common/data_dir.h"
#include "gateway/exchange_service.h"
#include "policy/policy_sync.h"
#include "replay/replay_store.h"

#ifndef DX_VERSION
#define DX_VERSION "unknown"
#endif

namespace dx::gateway {
namespace {

using Family = metrics::ScrapedFamily;

Family Gauge(std::string name, std::string help, double value) {
  Family f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.samples.push_back({{}, value});
  return f;
}

Family Counter(std::string name, std::string help, double value) {
  Family f = Gauge(std::move(name), std::move(help), value);
  f.type = Family::Type::kCounter;
  return f;
}

uint64_t FolderBytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

}  // namespace

metrics::ScrapeFn NodeMetrics(NodeMetricsSources src) {
  return [src = std::move(src)] {
    const absl::Time now = src.clock->Now();
    std::vector<Family> out;
    Family info = Gauge("dx_build_info",
                        "Always 1; the labels say which dxgate this is.", 1);
    info.samples[0].labels = {{"version", DX_VERSION}, {"node", src.node_id}};
    out.push_back(std::move(info));
    out.push_back(Gauge("dx_serving",
                        "1 when the node serves exchanges (gRPC health "
                        "SERVING), 0 when it refuses them all.",
                        src.not_serving().ok() ? 1 : 0));
    out.push_back(Gauge("dx_exchanges_in_flight", "Exchanges being served now.",
                        static_cast<double>(src.exchange->in_flight())));
    out.push_back(
        Counter("dx_overload_refusals_total",
                "Exchanges refused with RESOURCE_EXHAUSTED for max_in_flight.",
                static_cast<double>(src.exchange->overload_refusals_total())));
    out.push_back(Gauge("dx_replay_guard_entries",
                        "Requests the replay guard remembers on this node.",
                        static_cast<double>(src.replay->size())));
    out.push_back(Counter("dx_audit_records_total",
                          "Records appended to this node's audit log.",
                          static_cast<double>(src.audit_log->next_sequence())));
    const std::string state = DataDir(src.data_dir).state();
    out.push_back(Gauge("dx_audit_log_bytes",
                        "Bytes of the audit log's RocksDB folder on disk.",
                        static_cast<double>(FolderBytes(state))));
    struct statvfs fs;
    if (statvfs(state.c_str(), &fs) == 0) {
      out.push_back(Gauge("dx_audit_disk_free_bytes",
                          "Bytes free for the audit log on its file system.",
                          static_cast<double>(fs.f_bavail) * fs.f_frsize));
      out.push_back(Gauge("dx_audit_disk_size_bytes",
                          "Size of the audit log's file system.",
                          static_cast<double>(fs.f_blocks) * fs.f_frsize));
    }
    out.push_back(Gauge("dx_audit_min_free_bytes",
                        "Below this much free space the audit log refuses "
                        "to write, and the node stops serving.",
                        static_cast<double>(src.min_free_bytes)));
    audit::AuditReader reader(src.state_db);
    if (auto head = reader.TreeHead(0); head.ok()) {
      out.push_back(Gauge("dx_audit_tree_head_size",
                          "Records covered by the last signed tree head.",
                          static_cast<double>(head->tree_size())));
      const absl::Time signed_at =
          absl::FromUnixMillis(static_cast<int64_t>(head->timestamp_ms()));
      out.push_back(Gauge("dx_audit_tree_head_age_seconds",
                          "Seconds since the last signed tree head (it is "
                          "signed only when the log has grown).",
                          absl::ToDoubleSeconds(now - signed_at)));
      const uint64_t records = src.audit_log->next_sequence();
      out.push_back(Gauge(
          "dx_audit_unsigned_records",
          "Records no signed tree head covers yet: with an old tree head, "
          "the log cannot sign (alert DxAuditTreeHeadStale).",
          records > head->tree_size()
              ? static_cast<double>(records - head->tree_size())
              : 0));
    }
    auto snapshot = src.policy->Current();
    out.push_back(Gauge("dx_policy_revision",
                        "Revision of the sharing policy in force.",
                        static_cast<double>(snapshot->revision())));
    out.push_back(Gauge("dx_registry_revision",
                        "Revision of the registry in force.",
                        static_cast<double>(snapshot->registry()->revision())));
    Family certs;
    certs.name = "dx_certificate_expiry_seconds";
    certs.help =
        "Seconds until a certificate this node uses expires (negative: "
        "expired), by what it is for and its subject.";
    Family crls;
    crls.name = "dx_crl_next_update_seconds";
    crls.help =
        "Seconds until a CRL's nextUpdate; past it every certificate of its "
        "CA is refused (fail closed) until a newer CRL is loaded.";
    for (const certs::Expiry& e : src.expiries()) {
      const double left = absl::ToDoubleSeconds(e.not_after - now);
      if (e.what == "CRL") {
        crls.samples.push_back({{{"issuer", e.subject}}, left});
      } else {
        certs.samples.push_back(
            {{{"what", e.what}, {"subject", e.subject}}, left});
      }
    }
    out.push_back(std::move(certs));
    out.push_back(std::move(crls));
    return out;
  };
}

}  // namespace dx::gateway
