// CPU time of other processes, read from /proc, so that dxbench can say
// what each process of the path (gateway, adapter, proxy) spent per call in
// exactly its timed window (issue 29: CPU per exchange beside the floor).
#ifndef DX_BENCH_PROCESS_CPU_H_
#define DX_BENCH_PROCESS_CPU_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dx::bench {

// User plus system CPU seconds that process `pid` (all its threads) has
// used so far, from /proc/PID/stat.
absl::StatusOr<double> ProcessCpuSeconds(int pid);

// The same from the text of a /proc/PID/stat file (the seam the unit test
// uses). The command name in parentheses may hold spaces and ')'.
absl::StatusOr<double> CpuSecondsFromStat(absl::string_view stat,
                                          long ticks_per_second);

}  // namespace dx::bench

#endif  // DX_BENCH_PROCESS_CPU_H_
