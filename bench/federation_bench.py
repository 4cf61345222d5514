"""Figures for routing through peer platforms (issue 27, "Figures";
docs/FEDERATION.md, "Figures"): the same look-up of bca.population by H30,
served by the ministry's platform, entered at one, two or three platforms
(tests/harness/platforms.py, all on this machine):

  1 platform   H30 (of the ministry's PKI) calls the ministry's gateway
  2 platforms  Hanoi's H30 calls Hanoi, which forwards to the ministry
  3 platforms  Hanoi's H30 calls Hanoi -> the hub -> the ministry

For each, in the same run and rounds interleaved: calls/s at a fixed number
in flight (closed loop); then, at one fixed rate for all three (open loop,
well below saturation, so that queueing does not hide the hop's own
cost), p50 and p99 latency and each process's CPU per call (/proc utime +
stime over the timed window, from dxbench --cpu, less what the process
spends idle: its CPU over a quiet window, measured in the same run, over
the rate); then the latency and the CPU each hop adds. Every platform records and signs as in production
(audit log synced). The three gateways, the adapter and the load generator
share this machine's cores, so throughput falls with each hop for CPU as
much as for latency. Medians of the rounds. Asserts nothing.

    DX_BUILD_DIR=$PWD/build /usr/bin/python3 bench/federation_bench.py \\
        [--rounds 3] [--duration 5] [--concurrency 16] [--rate 200]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, os.path.join(BUILD, "python"))
from consumer import Consumer  # noqa: E402
from tests.harness.platforms import BCA, HUB, Platforms, routed_registry  # noqa: E402

QUERY = "citizen_id=001000000000"
FIELDS = ["citizen_id", "full_name", "birth_date"]


def route_hanoi_to(platforms, consumer, to, hops):
    """Rewrites Hanoi's registry (reloaded without a restart) and waits
    until an answer carries `hops` receipts."""
    platforms.hn.write("registry.yaml", routed_registry(platforms.hn, to))
    deadline = time.time() + 30
    while time.time() < deadline:
        answer = consumer.stub.Call(consumer.signed(fields=FIELDS, query={
            "citizen_id": "001000000000"}), timeout=10)
        if len(answer.hop_receipts) == hops:
            return
        time.sleep(0.2)
    raise RuntimeError(f"Hanoi's registry did not route to {to}")


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def idle_us_per_s(pids, seconds=5):
    """Each process's CPU while nothing is asked of it (its housekeeping,
    tree heads, gRPC's pollers), in microseconds a second."""
    before = {name: cpu_seconds(pid) for name, pid in pids}
    time.sleep(seconds)
    return {name: (cpu_seconds(pid) - before[name]) * 1e6 / seconds for name, pid in pids}


def run(env, label, args, cpu, rate=None):
    extra = [f"--cpu={name}={pid}" for name, pid in cpu]
    if rate:
        extra += ["--rate", str(rate)]
    for f in FIELDS:
        extra += ["--field", f]
    return env.dxbench("--label", label, "--dataset", "bca.population",
                       "--purpose", "civil-registration", "--system", "hotich",
                       "--concurrency", str(args.concurrency), "--duration",
                       str(args.duration), "--warmup", "1", *extra, query=QUERY)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rate", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dx-fedbench-") as root:
        p = Platforms(root, BUILD, population=10000).start()
        try:
            consumer = Consumer(p.hn)
            pid = {name: env.procs["gateway"].pid
                   for name, env in (("hanoi", p.hn), ("hub", p.hub), ("ministry", p.bca))}
            adapter = ("adapter", p.bca.procs["adapter-population"].pid)
            results = {1: [], 2: [], 3: []}  # closed loop
            fixed = {1: [], 2: [], 3: []}  # at --rate
            paths = {1: (p.bca, [("ministry", pid["ministry"]), adapter]),
                     2: (p.hn, [("hanoi", pid["hanoi"]), ("ministry", pid["ministry"]),
                                adapter]),
                     3: (p.hn, [("hanoi", pid["hanoi"]), ("hub", pid["hub"]),
                                ("ministry", pid["ministry"]), adapter])}
            idle = []
            for r in range(args.rounds):
                idle.append(idle_us_per_s(list(pid.items()) + [adapter]))
                for n in (1, 3, 2):
                    if n == 3:
                        route_hanoi_to(p, consumer, HUB, 2)
                    elif n == 2:
                        route_hanoi_to(p, consumer, BCA, 1)
                    env, cpus = paths[n]
                    results[n].append(run(env, f"{n} platforms r{r}", args, cpus))
                    fixed[n].append(run(env, f"{n} platforms r{r} at {args.rate}/s",
                                        args, cpus, rate=args.rate))
            consumer.close()
        finally:
            p.close()

    def med(n, key, table=None):
        return statistics.median(x[key] for x in (table or fixed)[n])

    def cpu(n, name):
        """CPU per call at the fixed rate, less the process's idle CPU."""
        values = [x["cpu_us_per_call"].get(name) - i[name] / args.rate
                  for x, i in zip(fixed[n], idle) if name in x["cpu_us_per_call"]]
        return statistics.median(values) if values else float("nan")

    errors = {n: sum(sum(x["errors"].values()) for x in results[n] + fixed[n])
              for n in results}
    names = {1: ["ministry"], 2: ["hanoi", "ministry"], 3: ["hanoi", "hub", "ministry"]}
    print(f"\nRouting through platforms: {args.rounds} rounds x {args.duration} s, medians")
    print(f"{'path':<14}{'calls/s':>9}{'ratio':>7}   at {args.rate}/s: {'p50 ms':>7}"
          f"{'p99 ms':>8}{'errors':>8}  CPU per call (us)")
    base = med(1, "throughput", results)
    for n in (1, 2, 3):
        cpus = ", ".join(f"{name} {cpu(n, name):.0f}" for name in names[n] + ["adapter"])
        print(f"{n} platform{'s' if n > 1 else ' ':<5}{med(n, 'throughput', results):>9.0f}"
              f"{med(n, 'throughput', results) / base:>7.2f}{'':>13}"
              f"{med(n, 'p50_us') / 1000:>7.2f}{med(n, 'p99_us') / 1000:>8.2f}"
              f"{errors[n]:>8}  {cpus}")
    print(f"(calls/s: closed loop, {args.concurrency} in flight; the rest at "
          f"{args.rate} calls/s; CPU less idle: "
          + ", ".join(f"{k} {statistics.median(i[k] for i in idle) / 1000:.0f} ms/s"
                      for k in idle[0]) + ")")
    print("\nWhat each hop adds (medians, at the fixed rate):")
    for a, b in ((1, 2), (2, 3)):
        total_a = sum(cpu(a, x) for x in names[a])
        total_b = sum(cpu(b, x) for x in names[b])
        print(f"  {a} -> {b} platforms: p50 +{(med(b, 'p50_us') - med(a, 'p50_us')) / 1000:.2f} ms,"
              f" p99 +{(med(b, 'p99_us') - med(a, 'p99_us')) / 1000:.2f} ms, "
              f"gateways' CPU +{total_b - total_a:.0f} us per call")
    print(f"  the provider's gateway: {cpu(1, 'ministry'):.0f} us per call for a "
          f"local consumer, {cpu(2, 'ministry'):.0f} us for a forwarded one")


if __name__ == "__main__":
    main()
