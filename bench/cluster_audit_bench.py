#!/usr/bin/env python3
"""make bench-cluster-audit: the figures of a cluster's one audit trail
(docs/AUDIT.md#a-cluster). Asserts nothing; prints medians and p99s.

1. One search over three nodes holding --records records in all (filled
   with bench/audit_fill.cc, tree heads signed by each node's key, then
   real gateways started on them): the first page (100 records) of a
   query merged over the nodes,
   - as `dxctl audit query` runs it (a process: TLS to three nodes, each
     node's status, one page of each, merged), and
   - in-process with warm channels (the same three pages, in turn, and at
     once), unfiltered and by consumer.
2. The checkpointer's cost at full load: dxbench over the three nodes with
   tree heads published every second and checkpointed every 5 s (heavier
   than the defaults, 5 s and 60 s): CPU of the publisher and checkpointer
   threads (from /proc), and etcd writes under audit/ per second (etcdctl
   watch), beside the exchanges per second.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tests.harness import ClusterEnv  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def p(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def thread_cpu(pid, names):
    """CPU seconds of the threads of `pid` named in `names`."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() not in names:
                    continue
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        except OSError:
            pass
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--root", default="var/bench-cluster-audit")
    ap.add_argument("--records", type=int, default=3_000_000, help="in all, over 3 nodes")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--load-seconds", type=int, default=20)
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(os.path.abspath(a.build_dir), "python"))
    import grpc
    from dx.v1 import audit_pb2, audit_pb2_grpc

    root = os.path.abspath(a.root)
    shutil.rmtree(root, ignore_errors=True)
    env = ClusterEnv(root, os.path.abspath(a.build_dir), nodes=3, etcd_members=3,
                     population=1000, business=100).setup()
    try:
        fill = os.path.join(os.path.abspath(a.build_dir), "bench", "dx_audit_fill")
        t0 = time.time()
        fills = []
        for n in env.node_ids:
            keys = os.path.join(root, env.certs_of(n))
            fills.append(subprocess.Popen(
                [fill, "--data-dir", env.node_data_dir(n), "--node", n, "--records",
                 str(a.records // 3), "--key", f"{keys}/sign.key", "--cert", f"{keys}/sign.pem"]))
        for f in fills:
            if f.wait() != 0:
                raise SystemExit("dx_audit_fill failed")
        print(f"filled {a.records:,} records over 3 nodes in {time.time() - t0:.0f} s")
        env.start()
        endpoints = ", ".join(env.etcd.endpoints)
        targets = ",".join(env.addresses)

        # 1a. dxctl, as an auditor runs it.
        def dxctl_page(*extra):
            times = []
            for _ in range(max(5, a.runs // 5)):
                s = time.perf_counter()
                r = env.dxctl("audit", "query", "--gateway", targets, "--pki", env.pki,
                              "--person", "auditor1", "--limit", "100", "--format", "jsonl",
                              *extra)
                times.append((time.perf_counter() - s) * 1000)
                assert r.returncode == 0, r.stderr
                assert len(r.stdout.splitlines()) == 100, r.stdout[:200]
            return times

        # 1b. In-process: one page from each node, in turn and at once.
        def read(path):
            with open(os.path.join(env.pki, path), "rb") as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(read("root-ca.pem"),
                                             read("people/auditor1/tls.key"),
                                             read("people/auditor1/tls.pem"))
        stubs = [audit_pb2_grpc.AuditStub(grpc.secure_channel(t, creds))
                 for t in env.addresses]

        def page(stub, q):
            return [m.record for m in stub.Query(q, timeout=30) if m.HasField("record")]

        def merged(q, parallel):
            if not parallel:
                pages = [page(s, q) for s in stubs]
            else:
                pages = [None] * len(stubs)

                def one(i):
                    pages[i] = page(stubs[i], q)
                ts = [threading.Thread(target=one, args=(i,)) for i in range(len(stubs))]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
            rows = sorted((r for pg in pages for r in pg),
                          key=lambda r: (r.record.time_unix_micros, r.record.node_id,
                                         r.sequence_number))
            return rows[:100]

        def inprocess(q, parallel):
            merged(q, parallel)  # warm
            times = []
            for _ in range(a.runs):
                s = time.perf_counter()
                rows = merged(q, parallel)
                times.append((time.perf_counter() - s) * 1000)
                assert len(rows) == 100
            return times

        print(f"\n1. first page (100 records) of a search over 3 nodes, {a.records:,} records "
              f"in all: median / p99 ms")
        rows = [
            ("dxctl audit query (process)", dxctl_page()),
            ("dxctl audit query --consumer (process)", dxctl_page("--consumer", "000.00.15.H30")),
            ("in-process, nodes in turn", inprocess(audit_pb2.AuditQuery(page_size=100), False)),
            ("in-process, nodes at once", inprocess(audit_pb2.AuditQuery(page_size=100), True)),
            ("in-process --consumer, in turn",
             inprocess(audit_pb2.AuditQuery(page_size=100, consumer_agency="000.00.15.H30"),
                       False)),
        ]
        for name, t in rows:
            print(f"   {name:42s} {statistics.median(t):7.1f} / {p(t, 0.99):7.1f}")

        # 2. The checkpointer at full load, heavier intervals than the defaults.
        for n in env.node_ids:
            env.stop_node(n)
        for n in env.node_ids:
            env.start_node(n, {"cluster": f"{{etcd_endpoints: [{endpoints}], "
                                          "tree_head_publish_ms: 1000, "
                                          "checkpoint_interval_ms: 5000}"})
        time.sleep(2)
        watch = subprocess.Popen(["etcdctl", "--endpoints", endpoints.replace(" ", ""),
                                  "watch", "--prefix", "/dx/audit/"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        puts = []

        def count():
            for line in watch.stdout:  # values are binary: bytes, not text
                if line.strip() == b"PUT":
                    puts.append(time.time())
        threading.Thread(target=count, daemon=True).start()
        pids = [env.procs[f"gateway-{n}"].pid for n in env.node_ids]
        cpu0 = [thread_cpu(pid, {"dx-publish", "dx-checkpoint"}) for pid in pids]
        start = time.time()
        result = env.dxbench("--duration", str(a.load_seconds), "--warmup", "0",
                             "--concurrency", "16", target=targets,
                             timeout=a.load_seconds + 120)
        took = time.time() - start
        cpu1 = [thread_cpu(pid, {"dx-publish", "dx-checkpoint"}) for pid in pids]
        watch.terminate()
        writes = len([t for t in puts if start <= t <= start + took])
        ok = result.get("ok", 0)
        rate = ok / max(result.get("seconds", took), 1e-9)
        cpu_ms = sum(b - c for b, c in zip(cpu1, cpu0)) * 1000
        print(f"\n2. checkpointer and publishers at full load ({a.load_seconds} s, "
              f"{rate:,.0f} exchanges/s over 3 nodes; publish 1 s, checkpoint 5 s):")
        print(f"   etcd writes under audit/: {writes / took:.2f}/s "
              f"({writes} in {took:.0f} s; {writes / took / rate * 1e6:.0f} per million exchanges)")
        print(f"   CPU of the publisher and checkpointer threads, 3 nodes: "
              f"{cpu_ms / took:.2f} ms/s ({cpu_ms / took / 10:.3f}% of one core); "
              f"/proc counts in {1000 // TICKS} ms ticks")
    finally:
        env.close()


if __name__ == "__main__":
    main()
