// dxbench's command line: the flags, their defaults and help, read into
// Options (bench/dxbench.cc runs them).
#ifndef DX_BENCH_DXBENCH_OPTIONS_H_
#define DX_BENCH_DXBENCH_OPTIONS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dx::bench {

struct Options {
  std::string target, mode = "gateway", label;
  std::string ca, cert, key, sign_cert, sign_key;
  std::string agency, system, dataset, purpose, tls_name = "localhost";
  std::vector<std::string> fields;
  std::map<std::string, std::string> query;
  int concurrency = 64, channels = 4;
  double rate = 0, duration = 10, warmup = 2;
  uint64_t requests = 0, max_records = 0;
  int retries = 0;
  std::string receipts;
  bool stream = false, sign_live = false;
  // --cpu NAME=PID: processes whose CPU time per call is reported for the
  // timed window (duration runs only).
  std::map<std::string, int> cpu_pids;
};

// The options of a run from the arguments after the program name; nullopt
// (after printing why and the help to stderr) on a bad flag, --help or no
// --target: the caller exits 2.
std::optional<Options> ParseOptions(const std::vector<std::string>& args);

}  // namespace dx::bench

#endif  // DX_BENCH_DXBENCH_OPTIONS_H_
