#!/usr/bin/env python3
"""make soak: the gateway at about 70% of its saturation rate for 30 minutes
(SOAK_MINUTES), on loopback with real processes (dev PKI, file adapter,
dxgate with the durable audit log and the sharing policy).

First a 15-second closed-loop run finds the saturation rate; then one
dxbench run per minute at 70% of it (open loop, fixed rate). Prints, per
minute: calls, errors, p50/p99/p99.9 latency, and the gateway's RSS; at the
end: total errors, RSS at start and end and its growth, and whether the audit
log verifies. Targets (issue 6): zero errors, RSS growth under 10%. Prints
figures; asserts nothing (exit 1 only when the run could not be made).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tests.harness import DevEnv, REPO, fresh_root  # noqa: E402


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def thread_cpu_seconds(pid):
    """CPU seconds of the process so far: (all threads, RocksDB's background
    threads), from /proc/<pid>/task/*/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    total = rocksdb = 0.0
    task_dir = f"/proc/{pid}/task"
    for tid in os.listdir(task_dir):
        try:
            with open(f"{task_dir}/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # the thread ended
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        used = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        total += used
        if name.startswith("rocksdb"):
            rocksdb += used
    return total, rocksdb


def machine_cpu():
    """(busy, iowait, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle, iowait = v[3], v[4]
    return sum(v) - idle - iowait, iowait, sum(v)


def dir_mib(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total / (1 << 20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--root", default=os.path.join(REPO, "var", "soak"))
    ap.add_argument("--minutes", type=int, default=int(os.environ.get("SOAK_MINUTES", "30")))
    ap.add_argument("--load", type=float, default=0.7, help="fraction of the saturation rate")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)

    env = DevEnv(fresh_root(args.root), build, population=100_000, business=1000)
    env.setup()
    try:
        env.start()
        pid = env.procs["gateway"].pid
        print(f"soak: dxgate pid {pid} on {env.gateway}; {args.minutes} minute(s) at "
              f"{args.load:.0%} of saturation", flush=True)
        sat = env.dxbench("--duration", "15", "--warmup", "0", "--concurrency", "64")
        rate = max(1, int(sat["throughput"] * args.load))
        print(f"saturation: {sat['throughput']:.0f} calls/s (closed loop, 64 in flight); "
              f"soak rate {rate} calls/s", flush=True)
        rss_start = rss_mib(pid)
        # Besides latency and memory, where the CPU went each minute: the
        # gateway's share (and its RocksDB compaction/flush threads'), how
        # busy the machine was and how long it waited on the disk.
        print("\nminute    calls  errors   p50 ms   p99 ms  p99.9 ms   RSS MiB"
              "  gw CPU%  rocksdb%  busy%  iowait%  data MiB", flush=True)
        cpu_before, rocksdb_before = thread_cpu_seconds(pid)
        machine_before = machine_cpu()
        wall_before = time.monotonic()
        total_calls = total_errors = 0
        rss_after_first = None
        rss_by_minute = []
        for minute in range(1, args.minutes + 1):
            r = env.dxbench("--rate", str(rate), "--duration", "60", "--warmup", "0")
            errors = sum(r["errors"].values())
            total_calls += r["ok"] + errors
            total_errors += errors
            cpu, rocksdb = thread_cpu_seconds(pid)
            machine = machine_cpu()
            jiffies = max(1, machine[2] - machine_before[2])
            wall = time.monotonic()
            # A minute's run lasts longer than 60 s when calls wait for
            # their deadline: shares are of the real interval.
            secs = max(1e-9, wall - wall_before)
            print(f"{minute:6d} {r['ok'] + errors:8d} {errors:7d} {r['p50_us'] / 1000:8.2f} "
                  f"{r['p99_us'] / 1000:8.2f} {r['p999_us'] / 1000:9.2f} {rss_mib(pid):9.1f}"
                  f" {(cpu - cpu_before) / secs * 100:8.0f} {(rocksdb - rocksdb_before) / secs * 100:9.0f}"
                  f" {(machine[0] - machine_before[0]) / jiffies * 100:6.0f}"
                  f" {(machine[1] - machine_before[1]) / jiffies * 100:8.0f}"
                  f" {dir_mib(env.data_dir):9.0f}"
                  + (f"   errors: {r['errors']}" if errors else ""), flush=True)
            cpu_before, rocksdb_before, machine_before, wall_before = cpu, rocksdb, machine, wall
            if rss_after_first is None:
                rss_after_first = rss_mib(pid)
            if minute == min(5, args.minutes):
                rss_warm = rss_mib(pid)
            rss_by_minute.append(rss_mib(pid))
        rss_end = rss_mib(pid)
        growth = (rss_end - rss_start) / rss_start * 100 if rss_start else 0
        steady = (rss_end - rss_after_first) / rss_after_first * 100
        warm = (rss_end - rss_warm) / rss_warm * 100
        print(f"\ncalls {total_calls}, errors {total_errors} (target 0)")
        print(f"gateway RSS: start {rss_start:.1f} MiB, after minute 1 "
              f"{rss_after_first:.1f} MiB, after minute 5 {rss_warm:.1f} MiB, end "
              f"{rss_end:.1f} MiB\n  growth {growth:+.1f}% from the start, {steady:+.1f}% "
              f"from minute 1, {warm:+.1f}% from minute 5 (target < 10%; RocksDB's "
              f"memtables fill their fixed budget in the first minutes)", flush=True)
        # Whether memory levels off once the fixed budgets have filled, or
        # keeps climbing (a leak): the mean RSS of each 5 minutes.
        means = [f"{i * 5 + 1}-{i * 5 + len(chunk)}: {sum(chunk) / len(chunk):.0f}"
                 for i, chunk in enumerate(rss_by_minute[j:j + 5]
                                           for j in range(0, len(rss_by_minute), 5))]
        print("  mean RSS MiB per 5 minutes: " + ", ".join(means), flush=True)
        time.sleep(2)  # let the last records get a signed tree head
        verify = env.auditor("verify", timeout=1800)
        print("audit log verification:")
        for line in (verify.stdout + verify.stderr).strip().splitlines():
            print("   " + line)
    finally:
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
