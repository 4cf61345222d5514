// pg_lookup_bench: the direct baseline for dx-sql-adapter's figures: N
// threads, each with its own libpq connection, run one prepared primary-key
// look-up in a closed loop, as a client of the provider's database would
// without dxgate. Prints a JSON line in dxbench's format.
//
//   PGPASSWORD=... pg_lookup_bench --conninfo "host=... dbname=..."
//     --sql "SELECT ... WHERE citizen_id = $1" --param 001000000000
//     --concurrency 16 --duration 10 --warmup 2
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/histogram.h"

namespace {

struct Flags {
  std::string conninfo, sql, param, label = "libpq direct";
  int concurrency = 16;
  double duration = 10, warmup = 2;
};

using Clock = std::chrono::steady_clock;

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--conninfo")
      f.conninfo = v;
    else if (k == "--sql")
      f.sql = v;
    else if (k == "--param")
      f.param = v;
    else if (k == "--label")
      f.label = v;
    else if (k == "--concurrency")
      f.concurrency = std::atoi(v.c_str());
    else if (k == "--duration")
      f.duration = std::atof(v.c_str());
    else if (k == "--warmup")
      f.warmup = std::atof(v.c_str());
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<uint64_t> errors{0};
  std::vector<dx::bench::Histogram> hists(f.concurrency);
  std::vector<std::thread> threads;
  for (int t = 0; t < f.concurrency; ++t) {
    threads.emplace_back([&, t] {
      PGconn* c = PQconnectdb(f.conninfo.c_str());
      if (PQstatus(c) != CONNECTION_OK) {
        std::fprintf(stderr, "connect: %s", PQerrorMessage(c));
        std::exit(1);
      }
      PGresult* p = PQprepare(c, "q", f.sql.c_str(), 1, nullptr);
      if (PQresultStatus(p) != PGRES_COMMAND_OK) {
        std::fprintf(stderr, "prepare: %s", PQerrorMessage(c));
        std::exit(1);
      }
      PQclear(p);
      const char* values[] = {f.param.c_str()};
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = Clock::now();
        PGresult* r = PQexecPrepared(c, "q", 1, values, nullptr, nullptr, 0);
        const bool ok =
            PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        PQclear(r);
        if (!measuring.load(std::memory_order_relaxed)) continue;
        if (!ok) ++errors;
        hists[t].Record(std::chrono::duration_cast<std::chrono::microseconds>(
                            Clock::now() - t0)
                            .count());
      }
      PQfinish(c);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(f.warmup));
  measuring = true;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(f.duration));
  measuring = false;
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (auto& t : threads) t.join();
  dx::bench::Histogram all;
  for (const auto& h : hists) all.Merge(h);
  std::printf("%s: %.0f calls/s, p50 %.2f ms, p99 %.2f ms, %llu errors\n",
              f.label.c_str(), all.count() / seconds,
              all.Percentile(0.5) / 1000.0, all.Percentile(0.99) / 1000.0,
              static_cast<unsigned long long>(errors.load()));
  std::printf(
      "{\"label\": \"%s\", \"throughput\": %.1f, \"p50_us\": %llu, \"p99_us\": "
      "%llu, \"errors\": %llu}\n",
      f.label.c_str(), all.count() / seconds,
      static_cast<unsigned long long>(all.Percentile(0.5)),
      static_cast<unsigned long long>(all.Percentile(0.99)),
      static_cast<unsigned long long>(errors.load()));
  return errors.load() == 0 ? 0 : 1;
}
