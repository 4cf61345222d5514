#!/usr/bin/env python3
"""make bench-cluster: what sharing the state in etcd costs (docs/CLUSTER.md).

Three configurations, interleaved round by round in one run (this machine
is shared and noisy: ratios and medians, not absolute figures):
  local    one node, the embedded backends (memory, RocksDB), as make demo;
  etcd1    one node, its state in a one-member etcd on loopback;
  cluster3 three nodes, a three-member etcd; dxbench calls all three
           (client-side round robin).
For each: closed-loop throughput and its ratio to local; p50/p99 at two
fixed rates, half of local's throughput (where every process here competes
for the cores) and --low-rate (where they do not, so what is added is
etcd's commit), and what they add over local; the gateways' CPU per
exchange (µs, from /proc) and etcd's. Asserts nothing.
"""
import argparse
import os
import shutil
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tests.harness import PROVIDERS, REPO, ClusterEnv, EtcdCluster  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


class Bench:
    def __init__(self, a):
        self.a = a
        # etcd members of an earlier run would wait for peers on old ports.
        for old in ("etcd", os.path.join("single", "etcd")):
            shutil.rmtree(os.path.join(os.path.abspath(a.root), old), ignore_errors=True)
        self.env = ClusterEnv(os.path.abspath(a.root), os.path.abspath(a.build_dir), nodes=3,
                              etcd_members=3, population=a.population, business=1000)
        self.single_etcd = EtcdCluster(os.path.join(self.env.root, "single"), members=1)
        self.nodes = []

    def start(self, config):
        """Starts the gateway nodes of `config`, each with a fresh data dir."""
        for n in self.env.node_ids:
            self.env.stop_node(n)
            shutil.rmtree(self.env.node_data_dir(n), ignore_errors=True)
        if config == "local":
            self.nodes = ["gw1"]
            self.env.start_node("gw1", {"cluster": "{}"})
        elif config == "etcd1":
            self.nodes = ["gw1"]
            self.env.start_node("gw1", {"cluster": f"{{etcd_endpoints: [{self.single_etcd.endpoints[0]}], "
                                                   f"prefix: /bench{self.round}/}}"})
        else:
            self.nodes = list(self.env.node_ids)
            for n in self.nodes:
                self.env.start_node(n, {"cluster": "{etcd_endpoints: [%s], prefix: /bench%d/}"
                                        % (", ".join(self.env.etcd.endpoints), self.round)})
        self.etcd_procs = ([m["proc"] for m in self.single_etcd.members] if config == "etcd1"
                           else [m["proc"] for m in self.env.etcd.members]
                           if config == "cluster3" else [])
        return ",".join(self.env.address(n) for n in self.nodes)

    def audited(self):
        return sum(int(self.env.status_of(n)["audit_records"]) for n in self.nodes)

    def run(self, config, args):
        target = self.start(config)
        gw_pids = [self.env.procs[f"gateway-{n}"].pid for n in self.nodes]
        before = self.audited()
        gw0 = sum(cpu_seconds(p) for p in gw_pids)
        et0 = sum(cpu_seconds(p.pid) for p in self.etcd_procs)
        r = self.env.dxbench(*args, "--label", config, "--field", "citizen_id", "--field",
                             "full_name", target=target, timeout=600)
        gw1 = sum(cpu_seconds(p) for p in gw_pids)
        et1 = sum(cpu_seconds(p.pid) for p in self.etcd_procs)
        calls = max(1, self.audited() - before)
        r["gateway_cpu_us"] = (gw1 - gw0) * 1e6 / calls
        r["etcd_cpu_us"] = (et1 - et0) * 1e6 / calls
        print(f"   {config:<9} {r['throughput']:8.0f} calls/s  p50 {r['p50_us'] / 1000:6.2f} ms  "
              f"p99 {r['p99_us'] / 1000:6.2f} ms  gateway {r['gateway_cpu_us']:5.0f} µs/call  "
              f"etcd {r['etcd_cpu_us']:5.0f} µs/call  errors {r['errors']}", flush=True)
        return r

    def main(self):
        a = self.a
        env = self.env
        env.setup()
        env.etcd.start()
        self.single_etcd.start()
        for agency in PROVIDERS:
            env.start_adapter(agency)
        env.write("registry.yaml", env.registry_text())
        env.write("policy.yaml", env.policy_text())
        configs = ["local", "etcd1", "cluster3"]
        closed = {c: [] for c in configs}
        fixed = {c: [] for c in configs}
        low = {c: [] for c in configs}
        print(f"dxgate cluster benchmark, {os.cpu_count()} cores (every process on this "
              f"machine); {a.rounds} interleaved rounds of {a.duration:g} s\n", flush=True)
        for self.round in range(a.rounds):
            print(f"round {self.round + 1}: closed loop, concurrency {a.concurrency}", flush=True)
            for c in configs:
                closed[c].append(self.run(c, ["--concurrency", str(a.concurrency), "--duration",
                                              str(a.duration), "--warmup", str(a.warmup)]))
            rate = max(1, int(closed["local"][-1]["throughput"] / 2))
            print(f"round {self.round + 1}: fixed rate {rate} calls/s (half of local's)", flush=True)
            for c in configs:
                fixed[c].append(self.run(c, ["--rate", str(rate), "--duration", str(a.duration),
                                             "--warmup", "1"]))
            print(f"round {self.round + 1}: fixed rate {a.low_rate} calls/s", flush=True)
            for c in configs:
                low[c].append(self.run(c, ["--rate", str(a.low_rate), "--duration",
                                           str(a.duration), "--warmup", "1"]))

        def med(rows, key):
            return statistics.median(x[key] for x in rows)

        print(f"\nmedians of {a.rounds} rounds")
        print(f"{'config':<9} {'calls/s':>8} {'/local':>7}   gateway µs/call  etcd µs/call")
        for c in configs:
            ratio = statistics.median(x["throughput"] / y["throughput"]
                                      for x, y in zip(closed[c], closed["local"]))
            print(f"{c:<9} {med(closed[c], 'throughput'):8.0f} {ratio:7.2f}   "
                  f"{med(closed[c], 'gateway_cpu_us'):15.0f}  {med(closed[c], 'etcd_cpu_us'):12.0f}")
        for title, rows in ((f"half of local's throughput", fixed),
                            (f"{a.low_rate} calls/s", low)):
            print(f"\nfixed rate, {title}:")
            print(f"{'config':<9} {'p50 ms':>7} {'p99 ms':>7} {'+p50':>6} {'+p99':>6}")
            for c in configs:
                add50 = statistics.median(x["p50_us"] - y["p50_us"]
                                          for x, y in zip(rows[c], rows["local"])) / 1000
                add99 = statistics.median(x["p99_us"] - y["p99_us"]
                                          for x, y in zip(rows[c], rows["local"])) / 1000
                print(f"{c:<9} {med(rows[c], 'p50_us') / 1000:7.2f} "
                      f"{med(rows[c], 'p99_us') / 1000:7.2f} {add50:6.2f} {add99:6.2f}")
        print("\ntargets (issue 12): etcd1/local throughput >= 0.85; etcd1 +p99 <= 2 ms")
        return 0

    def close(self):
        self.env.close()
        self.single_etcd.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--root", default=os.path.join(REPO, "var", "bench-cluster"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--population", type=int, default=100_000)
    ap.add_argument("--low-rate", type=int, default=200)
    bench = Bench(ap.parse_args())
    try:
        return bench.main()
    finally:
        bench.close()


if __name__ == "__main__":
    sys.exit(main())
