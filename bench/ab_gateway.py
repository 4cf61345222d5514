#!/usr/bin/env python3
"""make bench-ab: two or more gateway builds (or settings) side by side in one
run, interleaved round by round with the direct call as the baseline, so
that a change is judged on ratios measured under the same machine load (this
machine is shared and noisy; absolute figures drift between runs).

  bench/ab_gateway.py --variant before=/tmp/old/build --variant after=build \\
      --variant "after-inline=build:audit={completion_threads: 0}"

Each variant: NAME=BUILD_DIR[:KEY=VALUE[;KEY=VALUE...]] (gateway settings in
dxgate.yaml syntax). Prints, per variant, the median closed-loop throughput
and its ratio to the direct call, and the fixed-rate p50/p99 and the p99
added over the direct call. Asserts nothing.
"""
import argparse
import os
import shutil
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tests.harness import DevEnv, REPO  # noqa: E402
from run_bench import Bench  # noqa: E402


class VariantEnv(DevEnv):
    gateway_binary = None

    def bin(self, name):
        if name == "dxgate" and self.gateway_binary:
            return self.gateway_binary
        return super().bin(name)


def parse_variant(text):
    name, _, rest = text.partition("=")
    build, _, settings = rest.partition(":")
    values = {}
    for item in filter(None, settings.split(";")):
        k, _, v = item.partition("=")
        values[k] = v
    return name, os.path.abspath(build), values


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--root", default=os.path.join(REPO, "var", "bench-ab"))
    ap.add_argument("--variant", action="append", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--population", type=int, default=100_000)
    a = ap.parse_args()
    a.stream_records = 0
    variants = [parse_variant(v) for v in a.variant]
    bench = Bench(a)
    bench.env = VariantEnv(bench.root, bench.build, population=a.population, business=1000)
    env = bench.env
    env.setup()
    for agency in ("000.00.00.G01", "000.00.00.G12"):
        env.start_adapter(agency)
    adapter = f"127.0.0.1:{env.adapter_ports['000.00.00.G01']}"
    closed = ["--concurrency", str(a.concurrency), "--duration", str(a.duration),
              "--warmup", str(a.warmup)]
    direct, tput, fixed = [], {n: [] for n, _, _ in variants}, {n: [] for n, _, _ in variants}

    def start(build, settings):
        env.stop_gateway()
        shutil.rmtree(env.data_dir, ignore_errors=True)
        env.gateway_binary = os.path.join(build, "gateway", "dxgate")
        env.gateway_settings = dict(settings)
        env.start_gateway()

    print(f"dxgate A/B, {os.cpu_count()} cores; {a.rounds} interleaved rounds of "
          f"{a.duration:g} s at concurrency {a.concurrency}\n", flush=True)
    for r in range(a.rounds):
        print(f"round {r + 1}:", flush=True)
        d = bench.run_dxbench(adapter, "direct", "direct", closed)
        direct.append(d)
        for name, build, settings in variants:
            start(build, settings)
            tput[name].append(bench.run_dxbench(env.gateway, "gateway", name, closed))
        # Latency at a fixed rate: half of the slowest variant's throughput.
        rate = max(1, int(min(t[-1]["throughput"] for t in tput.values()) / 2))
        openl = ["--rate", str(rate), "--duration", str(a.duration), "--warmup", "1"]
        fixed_direct = bench.run_dxbench(adapter, "direct", f"direct @{rate}/s", openl)
        for name, build, settings in variants:
            start(build, settings)
            f = bench.run_dxbench(env.gateway, "gateway", f"{name} @{rate}/s", openl)
            f["added_p99_us"] = f["p99_us"] - fixed_direct["p99_us"]
            fixed[name].append(f)
    env.close()

    d = statistics.median(x["throughput"] for x in direct)
    print(f"\nmedians of {a.rounds} rounds; direct {d:.0f} calls/s")
    print(f"{'variant':<22} {'calls/s':>8} {'/direct':>8}   fixed-rate p50 ms   p99 ms   "
          f"added p99 ms")
    for name, _, _ in variants:
        t = statistics.median(x["throughput"] for x in tput[name])
        ratio = statistics.median(x["throughput"] / y["throughput"]
                                  for x, y in zip(tput[name], direct))
        p50 = statistics.median(x["p50_us"] for x in fixed[name]) / 1000
        p99 = statistics.median(x["p99_us"] for x in fixed[name]) / 1000
        added = statistics.median(x["added_p99_us"] for x in fixed[name]) / 1000
        print(f"{name:<22} {t:8.0f} {ratio:8.2f}   {p50:17.2f} {p99:8.2f} {added:12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
