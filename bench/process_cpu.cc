#include "bench/process_cpu.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"

namespace dx::bench {

absl::StatusOr<double> CpuSecondsFromStat(absl::string_view stat,
                                          long ticks_per_second) {
  // "PID (comm) state ppid ...": the fields after the last ')' start with
  // the state (field 3); utime and stime are fields 14 and 15.
  const size_t close = stat.rfind(')');
  if (close == absl::string_view::npos || ticks_per_second <= 0) {
    return absl::InvalidArgumentError("not a /proc/PID/stat line");
  }
  std::vector<absl::string_view> f =
      absl::StrSplit(stat.substr(close + 1), ' ', absl::SkipEmpty());
  // f[0] is field 3, so field N is f[N - 3].
  uint64_t utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[14 - 3], &utime) ||
      !absl::SimpleAtoi(f[15 - 3], &stime)) {
    return absl::InvalidArgumentError("not a /proc/PID/stat line");
  }
  return static_cast<double>(utime + stime) /
         static_cast<double>(ticks_per_second);
}

absl::StatusOr<double> ProcessCpuSeconds(int pid) {
  absl::StatusOr<std::string> stat =
      ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return stat.status();
  return CpuSecondsFromStat(*stat, sysconf(_SC_CLK_TCK));
}

}  // namespace dx::bench
