// dxctl audit list: reads the audit log straight from a gateway's data
// folder (read-only; works while the gateway runs). The Audit gRPC service
// and its search, proofs and export come with the audit-log issue.
#include <google/protobuf/util/json_util.h>

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "audit/rocksdb_audit_log.h"
#include "audit/state_db.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "common/files.h"

namespace dx::cli {

int RunAudit(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "list") {
    std::cerr << "usage: dxctl audit list --data-dir DIR [--from N] [--limit "
                 "N] [--json]\n";
    return 2;
  }
  auto f = Flags::Parse({args.begin() + 1, args.end()},
                        {"data-dir", "from", "limit"}, {"json"});
  if (!f.ok() || !f->Has("data-dir")) {
    std::cerr << "dxctl audit list: --data-dir DIR is required\n";
    return 2;
  }
  uint64_t from = 0, limit = 50;
  (void)absl::SimpleAtoi(f->Get("from", "0"), &from);
  (void)absl::SimpleAtoi(f->Get("limit", "50"), &limit);
  audit::StateDb::Options o;
  o.path = f->Get("data-dir") + "/state";
  o.read_only = true;
  auto db = audit::StateDb::Open(o);
  if (!db.ok()) {
    std::cerr << "dxctl audit list: " << db.status().message() << "\n";
    return 1;
  }
  auto records = audit::RocksDbAuditLog::ReadRange(db->get(), from, limit);
  if (!records.ok()) {
    std::cerr << "dxctl audit list: " << records.status().message() << "\n";
    return 1;
  }
  for (const auto& [r, leaf] : *records) {
    if (f->Has("json")) {
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(r, &json);
      std::cout << json << "\n";
      continue;
    }
    std::string decision = v1::Decision_Name(r.decision());
    decision = decision.substr(decision.rfind('_') + 1);
    std::string kind = v1::RecordKind_Name(r.kind());
    kind = kind.substr(std::string("RECORD_KIND_").size());
    std::cout << "#" << r.sequence_number() << "  "
              << absl::FormatTime("%Y-%m-%d %H:%M:%S",
                                  absl::FromUnixMicros(r.time_unix_micros()),
                                  absl::UTCTimeZone())
              << "  " << kind << "  " << decision << "  " << r.consumer_agency()
              << "/" << r.consumer_system() << " -> " << r.dataset_id()
              << "  purpose=" << r.purpose_code()
              << "  records=" << r.record_count();
    if (r.decision() != v1::DECISION_ALLOW) {
      std::cout << "  " << v1::ReasonCode_Name(r.reason());
    }
    std::cout << "\n      leaf " << HexEncode(leaf).substr(0, 16)
              << "...  request " << r.request_id() << "\n";
  }
  return 0;
}

}  // namespace dx::cli
