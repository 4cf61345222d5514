// dx_audit_bench: the audit log's performance figures (docs/AUDIT.md).
//
//   dx_audit_bench [--records N] [--db DIR] [--runs R]
//
// 1. Appends from one thread without sync (async appends, as exchanges make
//    them): records/s, median of R runs.
// 2. Durable vs not: 64 appends in flight (64 concurrent exchanges), with
//    and without fsync: records/s and the ratio (group commit at work).
// 3. With N records (default 10 million) in the log: the first page (100) of
//    a query by consumer and time range, and inclusion proofs: median and
//    p99 latency. The log is built once in --db and reused.
// Prints figures; asserts nothing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "audit/audit_reader.h"
#include "audit/rocksdb_audit_log.h"
#include "certs/crypto.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kT0 = 1'780'000'000'000'000;  // microseconds
constexpr int kConsumers = 100;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

dx::v1::AuditRecord MakeRecord(uint64_t i) {
  dx::v1::AuditRecord r;
  r.set_kind(dx::v1::RECORD_KIND_EXCHANGE);
  // One record per millisecond of simulated time.
  r.set_time_unix_micros(kT0 + static_cast<int64_t>(i) * 1000);
  r.set_node_id("gw1");
  r.set_consumer_agency(absl::StrCat("000.00.", 10 + i % kConsumers, ".H30"));
  r.set_consumer_system("hotich");
  r.set_tls_agency(r.consumer_agency());
  r.set_provider_agency("000.00.00.G01");
  r.set_dataset_id(absl::StrCat("bca.population.", i % 50));
  r.set_request_id(absl::StrCat("req-", i));
  r.set_purpose_code("civil-registration");
  r.set_legal_basis("Decree 194/2025/ND-CP Art. 16");
  for (const char* f : {"citizen_id", "full_name", "birth_date", "sex"}) {
    r.add_requested_fields(f);
    r.add_returned_fields(f);
  }
  r.set_record_count(1);
  r.set_decision(i % 7 == 0 ? dx::v1::DECISION_DENY : dx::v1::DECISION_ALLOW);
  r.set_request_sha256(std::string(32, static_cast<char>(i)));
  r.set_response_sha256(std::string(32, static_cast<char>(i >> 8)));
  if (i % 3 == 0)
    r.set_data_subject_hmac(std::string(32, static_cast<char>(i % 251)));
  r.set_received_unix_micros(r.time_unix_micros() - 900);
  r.set_total_micros(900);
  return r;
}

// Appends `n` records starting at `first` with at most `window` in flight;
// returns records per second.
double Append(dx::audit::AuditLog* log, uint64_t first, uint64_t n,
              uint64_t window) {
  absl::Mutex mu;
  uint64_t done = 0, failed = 0;
  auto wait_for = [&](uint64_t target) {
    absl::MutexLock lock(&mu);
    auto reached = [&] { return done >= target; };
    mu.Await(absl::Condition(&reached));
  };
  const auto start = Clock::now();
  for (uint64_t i = 0; i < n; ++i) {
    if (i >= window) wait_for(i - window);
    log->Append(MakeRecord(first + i),
                [&](absl::StatusOr<dx::audit::AppendResult> r) {
                  absl::MutexLock lock(&mu);
                  ++done;
                  if (!r.ok()) ++failed;
                });
  }
  wait_for(n);
  if (failed) std::cerr << failed << " appends failed\n";
  return n / Seconds(Clock::now() - start);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

std::unique_ptr<dx::audit::StateDb> Open(const std::string& path) {
  auto db = dx::audit::StateDb::Open({path});
  if (!db.ok()) {
    std::cerr << db.status() << "\n";
    std::exit(1);
  }
  return *std::move(db);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t records = 10'000'000;
  int runs = 5;
  std::string db_dir = "/tmp/dx-audit-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--records")) records = std::stoull(argv[i + 1]);
    if (!std::strcmp(argv[i], "--db")) db_dir = argv[i + 1];
    if (!std::strcmp(argv[i], "--runs")) runs = std::stoi(argv[i + 1]);
  }
  std::printf("dx_audit_bench: %d runs each; machine: %u cores\n", runs,
              std::thread::hardware_concurrency());

  // 1 and 2: fresh logs each run.
  std::vector<double> one_thread, durable, unsynced;
  for (int r = 0; r < runs; ++r) {
    for (int mode = 0; mode < 3; ++mode) {
      const std::string dir = db_dir + "-tmp";
      std::filesystem::remove_all(dir);
      auto db = Open(dir);
      dx::audit::RocksDbAuditLog::Options o;
      o.sync = mode == 2;
      auto log = *dx::audit::RocksDbAuditLog::Create(db.get(), o);
      if (mode == 0) one_thread.push_back(Append(log.get(), 0, 200'000, 4096));
      if (mode == 1) unsynced.push_back(Append(log.get(), 0, 20'000, 64));
      if (mode == 2) durable.push_back(Append(log.get(), 0, 20'000, 64));
    }
  }
  std::filesystem::remove_all(db_dir + "-tmp");
  std::printf(
      "\n1. append, one thread, no sync:            %10.0f records/s (target "
      ">= 50,000)\n",
      Median(one_thread));
  std::printf("2. 64 in flight, no sync:                  %10.0f records/s\n",
              Median(unsynced));
  std::printf("   64 in flight, fsync (group commit):     %10.0f records/s\n",
              Median(durable));
  std::printf(
      "   durable / unsynced:                     %10.2f  (target >= 0.9 at "
      "exchange level;\n"
      "                                                       see "
      "docs/PERFORMANCE.md when dxbench lands)\n",
      Median(durable) / Median(unsynced));

  // 3: a big log, built once.
  auto db = Open(db_dir);
  dx::audit::AuditReader reader(db.get());
  uint64_t have = *reader.TreeSize();
  if (have < records) {
    std::printf(
        "\nbuilding a log of %lu records in %s (once; reused next time) ...\n",
        static_cast<unsigned long>(records), db_dir.c_str());
    const std::string gw =
        std::string(getenv("DX_LOG_KEY_DIR") ? getenv("DX_LOG_KEY_DIR") : "");
    dx::audit::RocksDbAuditLog::Options o;
    o.sync = false;
    std::unique_ptr<dx::certs::Signer> signer;
    if (!gw.empty()) {
      signer =
          *dx::certs::Signer::FromFiles(gw + "/sign.key", gw + "/sign.pem");
      o.tree_head_signer = signer.get();
      o.tree_head_interval = absl::Hours(1000);
    }
    auto log = *dx::audit::RocksDbAuditLog::Create(db.get(), o);
    const auto start = Clock::now();
    Append(log.get(), have, records - have, 4096);
    std::printf("   built in %.0f s\n", Seconds(Clock::now() - start));
  }
  have = *reader.TreeSize();
  std::mt19937_64 rng(194);
  std::vector<double> query_ms, proof_ms;
  for (int i = 0; i < 200; ++i) {
    dx::audit::AuditReader::Filter f;
    f.consumer_agency =
        absl::StrCat("000.00.", 10 + rng() % kConsumers, ".H30");
    const int64_t from = kT0 + static_cast<int64_t>(rng() % have) * 1000;
    f.from_micros = from;
    f.to_micros = from + 3'600'000'000LL;  // one hour
    const auto start = Clock::now();
    auto page = reader.Query(f, 100, "");
    query_ms.push_back(Seconds(Clock::now() - start) * 1000);
    if (!page.ok()) std::cerr << page.status() << "\n";
  }
  // Proofs need a signed tree head; without one, time the path alone.
  for (int i = 0; i < 2000; ++i) {
    const uint64_t seq = rng() % have;
    const auto start = Clock::now();
    auto path = dx::audit::InclusionProof(reader.Source(), seq, have);
    proof_ms.push_back(Seconds(Clock::now() - start) * 1000);
    if (!path.ok()) std::cerr << path.status() << "\n";
  }
  std::printf("\n3. with %lu records in the log:\n",
              static_cast<unsigned long>(have));
  std::printf(
      "   first page (100) by consumer + 1 h range: median %.2f ms, p99 %.2f "
      "ms (target < 20 ms)\n",
      Median(query_ms), Percentile(query_ms, 0.99));
  std::printf(
      "   inclusion proof:                          median %.3f ms, p99 %.3f "
      "ms (target < 1 ms)\n",
      Median(proof_ms), Percentile(proof_ms, 0.99));
  return 0;
}
