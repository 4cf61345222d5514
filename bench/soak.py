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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from dxenv import DevEnv, REPO, fresh_root  # noqa: E402


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


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
        print(f"\nminute    calls  errors   p50 ms   p99 ms  p99.9 ms   RSS MiB", flush=True)
        total_calls = total_errors = 0
        rss_after_first = None
        for minute in range(1, args.minutes + 1):
            r = env.dxbench("--rate", str(rate), "--duration", "60", "--warmup", "0")
            errors = sum(r["errors"].values())
            total_calls += r["ok"] + errors
            total_errors += errors
            print(f"{minute:6d} {r['ok'] + errors:8d} {errors:7d} {r['p50_us'] / 1000:8.2f} "
                  f"{r['p99_us'] / 1000:8.2f} {r['p999_us'] / 1000:9.2f} {rss_mib(pid):9.1f}"
                  + (f"   errors: {r['errors']}" if errors else ""), flush=True)
            if rss_after_first is None:
                rss_after_first = rss_mib(pid)
        rss_end = rss_mib(pid)
        growth = (rss_end - rss_start) / rss_start * 100 if rss_start else 0
        steady = (rss_end - rss_after_first) / rss_after_first * 100
        print(f"\ncalls {total_calls}, errors {total_errors} (target 0)")
        print(f"gateway RSS: start {rss_start:.1f} MiB, after minute 1 "
              f"{rss_after_first:.1f} MiB, end {rss_end:.1f} MiB; growth {growth:+.1f}% "
              f"from the start (RocksDB caches filling), {steady:+.1f}% from minute 1 "
              f"(target < 10%)", flush=True)
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
