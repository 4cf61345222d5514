// dx_audit_fill: writes N synthetic exchange records into a gateway's data
// folder, with tree heads signed by the node's log key, so that benchmarks
// can start a real gateway on a log of millions of records without
// millions of exchanges (bench/cluster_audit_bench.py).
//
//   dx_audit_fill --data-dir DIR --node ID --records N --key K --cert C
//                 [--consumers N] [--start-micros T]
//
// Records are spread over --consumers agencies (000.00.NN.H30), one per
// millisecond from --start-micros. Not a test; asserts nothing.
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "audit/rocksdb_audit_log.h"
#include "certs/crypto.h"
#include "common/data_dir.h"

int main(int argc, char** argv) {
  std::string data_dir, node, key, cert;
  uint64_t records = 1'000'000, consumers = 100;
  int64_t start = absl::ToUnixMicros(absl::Now() - absl::Hours(24));
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--data-dir") data_dir = value;
    if (flag == "--node") node = value;
    if (flag == "--records") records = std::stoull(value);
    if (flag == "--key") key = value;
    if (flag == "--cert") cert = value;
    if (flag == "--consumers") consumers = std::stoull(value);
    if (flag == "--start-micros") start = std::stoll(value);
  }
  if (data_dir.empty() || node.empty() || key.empty() || cert.empty()) {
    std::cerr << "usage: dx_audit_fill --data-dir DIR --node ID --records N "
                 "--key K --cert C\n";
    return 2;
  }
  auto signer = dx::certs::Signer::FromFiles(key, cert);
  if (!signer.ok()) {
    std::cerr << signer.status() << "\n";
    return 1;
  }
  std::filesystem::create_directories(data_dir);
  auto db = dx::audit::StateDb::Open({dx::DataDir(data_dir).state()});
  if (!db.ok()) {
    std::cerr << db.status() << "\n";
    return 1;
  }
  dx::audit::RocksDbAuditLog::Options o;
  o.sync = false;
  o.tree_head_signer = signer->get();
  o.node_id = node;
  o.tree_head_every_records = 100'000;
  auto log = dx::audit::RocksDbAuditLog::Create(db->get(), o);
  if (!log.ok()) {
    std::cerr << log.status() << "\n";
    return 1;
  }
  absl::Mutex mu;
  uint64_t done = 0;
  for (uint64_t i = 0; i < records; ++i) {
    if (i >= 4096) {
      absl::MutexLock lock(&mu);
      auto caught_up = [&] { return done + 4096 > i; };
      mu.Await(absl::Condition(&caught_up));
    }
    dx::v1::AuditRecord r;
    r.set_kind(dx::v1::RECORD_KIND_EXCHANGE);
    r.set_time_unix_micros(start + static_cast<int64_t>(i) * 1000);
    r.set_node_id(node);
    r.set_consumer_agency(absl::StrCat("000.00.", 10 + i % consumers, ".H30"));
    r.set_consumer_system("hotich");
    r.set_tls_agency(r.consumer_agency());
    r.set_identity_verified(true);
    r.set_provider_agency("000.00.00.G01");
    r.set_dataset_id("bca.population");
    r.set_request_id(absl::StrCat(node, "-req-", i));
    r.set_purpose_code("civil-registration");
    r.set_decision(i % 7 == 0 ? dx::v1::DECISION_DENY : dx::v1::DECISION_ALLOW);
    r.set_request_sha256(std::string(32, static_cast<char>(i)));
    (*log)->Append(std::move(r), [&](absl::StatusOr<dx::audit::AppendResult>) {
      absl::MutexLock lock(&mu);
      ++done;
    });
  }
  {
    absl::MutexLock lock(&mu);
    auto all = [&] { return done == records; };
    mu.Await(absl::Condition(&all));
  }
  log->reset();  // signs the last tree head
  std::cout << node << ": " << records << " records in "
            << dx::DataDir(data_dir).state() << "\n";
  return 0;
}
