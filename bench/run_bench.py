#!/usr/bin/env python3
"""make bench: dxgate against its peers, side by side in one run, on loopback.

Starts everything itself (dev PKI, 1M-row population registry, the file
adapter, nginx as a plain mutual-TLS gRPC proxy, dxgate durable and not) and
drives each with the same generator (dxbench), the same request and payload:

  1. the client calling the file adapter directly (mutual TLS);
  2. the client through nginx, a proxy that checks nothing;
  3. the client through dxgate with every check on (mTLS, signature,
     certificate, replay, policy, response signing, durable audit);
  4. the same with the audit not synced.

Each configuration runs ROUNDS times, interleaved, and the table shows
medians (this machine is shared and noisy). Then latency at a fixed rate of
half of configuration 3's throughput for 1, 2 and 3, and a stream of 1 million
records through the gateway and directly. Prints figures; asserts nothing.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tests.harness import DevEnv, REPO  # noqa: E402

CITIZEN = "001000000000"


def rss_kib(pid, field="VmHWM"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def nginx_conf(root, env, port, upstream_port):
    pki = env.pki
    return f"""
worker_processes 1;
daemon off;
error_log {root}/logs/nginx-error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {root}/nginx-tmp;
  upstream adapter {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {pki}/gateway/tls.pem;
    ssl_certificate_key {pki}/gateway/tls.key;
    ssl_client_certificate {pki}/root-ca.pem;
    ssl_verify_client on;
    ssl_verify_depth 3;
    location / {{
      grpc_pass grpcs://adapter;
      grpc_ssl_certificate {pki}/gateway/tls.pem;
      grpc_ssl_certificate_key {pki}/gateway/tls.key;
      grpc_ssl_trusted_certificate {pki}/root-ca.pem;
      grpc_ssl_verify on;
      grpc_ssl_name localhost;
      grpc_ssl_session_reuse on;
    }}
  }}
}}
"""


def ecdsa_p256_us(seconds=3):
    """(sign, verify) microseconds of one ECDSA P-256 operation on one core,
    from `openssl speed -mr` ("+F4:index:bits:signs/s:verifies/s")."""
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), "-mr", "ecdsap256"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("+F4:"):
            signs, verifies = (float(x) for x in line.split(":")[3:5])
            return 1e6 / signs, 1e6 / verifies
    raise RuntimeError(f"openssl speed printed no +F4 line: {out}")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Bench:
    def __init__(self, args):
        self.args = args
        self.root = os.path.abspath(args.root)
        self.build = os.path.abspath(args.build_dir)
        self.dxbench = os.path.join(self.build, "bench", "dxbench")
        os.makedirs(self.root, exist_ok=True)
        self.env = DevEnv(self.root, self.build, population=args.population, business=1000)

    def run_dxbench(self, target, mode, label, extra=(), one_citizen=True, cpu=None):
        # Unary calls look up one citizen; streams read the whole registry.
        # cpu: {name: pid} whose CPU per call dxbench reports for the window.
        query = ["--query", f"citizen_id={CITIZEN}"] if one_citizen else []
        cpu_flags = [f for name, pid in (cpu or {}).items() for f in ("--cpu", f"{name}={pid}")]
        cmd = [self.dxbench, "--target", target, "--mode", mode, "--pki", self.env.pki,
               "--label", label, *query, *cpu_flags,
               "--field", "citizen_id", "--field", "full_name", "--field", "birth_date",
               "--field", "sex", "--field", "province_code", *extra]
        out = subprocess.run(cmd, capture_output=True, text=True)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"dxbench failed: {out.stdout}\n{out.stderr}")
        result = json.loads(lines[-1])
        result["failed"] = out.returncode != 0
        for line in out.stdout.splitlines():
            if not line.startswith("{"):
                print("   " + line, flush=True)
        return result

    def nginx_worker(self):
        """The pid of nginx's one worker (the master only supervises)."""
        with open(f"/proc/{self.nginx.pid}/task/{self.nginx.pid}/children") as f:
            children = f.read().split()
        return int(children[0]) if children else self.nginx.pid

    def start_nginx(self):
        os.makedirs(os.path.join(self.root, "nginx-tmp"), exist_ok=True)
        self.nginx_port = free_port()
        conf = os.path.join(self.root, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(self.root, self.env, self.nginx_port,
                               self.env.adapter_ports["000.00.00.G01"]))
        log = open(os.path.join(self.root, "logs", "nginx.log"), "ab")
        self.nginx = subprocess.Popen(["nginx", "-c", conf, "-p", self.root], stdout=log,
                                      stderr=log)
        time.sleep(0.5)
        if self.nginx.poll() is not None:
            raise RuntimeError("nginx did not start: see " + self.root + "/logs/nginx-error.log")

    def gateway(self, sync):
        self.env.stop_gateway()
        shutil.rmtree(self.env.data_dir, ignore_errors=True)
        self.env.gateway_settings = {"audit": "{sync: %s}" % ("true" if sync else "false")}
        self.env.start_gateway()
        return self.env.procs["gateway"].pid

    def main(self):
        a = self.args
        print(f"dxgate benchmark, {os.cpu_count()} cores; medians of {a.rounds} rounds of "
              f"{a.duration:g} s at concurrency {a.concurrency} (closed loop)\n", flush=True)
        self.env.setup()
        for agency in ("000.00.00.G01", "000.00.00.G12"):
            self.env.start_adapter(agency)
        adapter = f"127.0.0.1:{self.env.adapter_ports['000.00.00.G01']}"
        self.start_nginx()
        nginx = f"127.0.0.1:{self.nginx_port}"
        closed = ["--concurrency", str(a.concurrency), "--duration", str(a.duration),
                  "--warmup", str(a.warmup)]
        runs = {k: [] for k in ("direct", "nginx", "durable", "unsynced")}
        rss = {"durable": 0, "unsynced": 0}
        adapter_pid = self.env.procs["adapter-population"].pid
        for r in range(a.rounds):
            print(f"round {r + 1}:", flush=True)
            runs["direct"].append(self.run_dxbench(adapter, "direct", "1 direct", closed,
                                                   cpu={"adapter": adapter_pid}))
            runs["nginx"].append(self.run_dxbench(
                nginx, "direct", "2 nginx", closed,
                cpu={"proxy": self.nginx_worker(), "adapter": adapter_pid}))
            for key, sync, label in (("durable", True, "3 dxgate durable"),
                                     ("unsynced", False, "4 dxgate unsynced")):
                pid = self.gateway(sync)
                runs[key].append(self.run_dxbench(self.env.gateway, "gateway", label, closed,
                                                  cpu={"proxy": pid, "adapter": adapter_pid}))
                rss[key] = max(rss[key], rss_kib(pid))

        def med(key, field):
            return statistics.median(x[field] for x in runs[key])

        failed = [k for k, v in runs.items() if any(x["failed"] for x in v)]
        print("\nconfiguration            calls/s     p50 ms   p99 ms   gateway peak RSS")
        names = {"direct": "1 direct to adapter", "nginx": "2 through nginx",
                 "durable": "3 dxgate, all checks", "unsynced": "4 dxgate, audit unsynced"}
        for k in runs:
            rss_text = f"{rss[k] / 1024:.0f} MiB" if k in rss else ""
            print(f"{names[k]:<24} {med(k, 'throughput'):9.0f}  {med(k, 'p50_us') / 1000:8.2f} "
                  f"{med(k, 'p99_us') / 1000:8.2f}   {rss_text}")
        t = {k: med(k, "throughput") for k in runs}
        print(f"\nratio 3/1 (dxgate / direct):   {t['durable'] / t['direct']:.2f}   target >= 0.35 (X-Road reported 0.11)")
        print(f"ratio 3/2 (dxgate / nginx):    {t['durable'] / t['nginx']:.2f}   target >= 0.5")
        print(f"ratio 3/4 (durable / unsynced): {t['durable'] / t['unsynced']:.2f}   target >= 0.9")
        if failed:
            print(f"FAILED runs (unexpected errors): {failed}")
        self.print_cpu_floor(runs)

        rate = max(1, int(t["durable"] / 2))
        print(f"\nfixed rate {rate} calls/s (half of 3's throughput), open loop, {a.duration:g} s:")
        openl = ["--rate", str(rate), "--duration", str(a.duration), "--warmup", "1"]
        self.gateway(True)
        fixed = {
            "direct": self.run_dxbench(adapter, "direct", "1 direct", openl),
            "nginx": self.run_dxbench(nginx, "direct", "2 nginx", openl),
            "durable": self.run_dxbench(self.env.gateway, "gateway", "3 dxgate durable", openl),
        }
        added = (fixed["durable"]["p99_us"] - fixed["direct"]["p99_us"]) / 1000
        print(f"added p99 latency of dxgate over direct: {added:.2f} ms   target < 1 ms")

        print(f"\nstreaming {a.stream_records} records, one call at a time, {a.rounds} rounds:")
        pid = self.gateway(True)
        before = rss_kib(pid, "VmRSS")
        stream = ["--stream", "--requests", "1", "--max-records", str(a.stream_records)]
        gw_rates, direct_rates = [], []
        for _ in range(a.rounds):
            s = self.run_dxbench(self.env.gateway, "gateway", "stream via dxgate", stream,
                                 one_citizen=False)
            gw_rates.append(s["records"] / s["seconds"])
            s = self.run_dxbench(adapter, "direct", "stream direct", stream,
                                 one_citizen=False)
            direct_rates.append(s["records"] / s["seconds"])
        growth = rss_kib(pid, "VmHWM") - before
        print(f"median records/s: dxgate {statistics.median(gw_rates):,.0f}, "
              f"direct {statistics.median(direct_rates):,.0f}")
        ratio = statistics.median(gw_rates) / statistics.median(direct_rates)
        print(f"stream ratio dxgate / direct: {ratio:.2f}   target >= 0.5")
        print(f"gateway RSS growth during the stream: {growth / 1024:.1f} MiB   target < 50 MiB")
        self.close()
        return 1 if failed else 0

    def print_cpu_floor(self, runs):
        """CPU per call of each process, medians over the rounds, and dxgate's
        beside its floor: what a plain proxy spends (nginx) plus the one
        ECDSA P-256 verify and one sign that only dxgate must do, measured
        by `openssl speed` in this run (issue 29)."""
        def cpu(key, name):
            values = [x["cpu_us_per_call"].get(name, -1) for x in runs[key]]
            values = [v for v in values if v >= 0]
            return statistics.median(values) if values else float("nan")

        print("\nCPU per call (us, medians)   proxy or gateway    adapter")
        names = {"direct": "1 direct", "nginx": "2 nginx", "durable": "3 dxgate durable",
                 "unsynced": "4 dxgate unsynced"}
        for k in runs:
            proxy = "" if k == "direct" else f"{cpu(k, 'proxy'):.0f}"
            print(f"  {names[k]:<26} {proxy:>16} {cpu(k, 'adapter'):>10.0f}")
        sign, verify = ecdsa_p256_us()
        floor = cpu("nginx", "proxy") + sign + verify
        ratio = cpu("durable", "proxy") / floor
        print(f"openssl speed ecdsap256 (one core, this run): sign {sign:.0f} us, "
              f"verify {verify:.0f} us")
        print(f"floor = nginx {cpu('nginx', 'proxy'):.0f} + verify {verify:.0f} + "
              f"sign {sign:.0f} = {floor:.0f} us")
        print(f"ratio dxgate CPU per call / floor: {ratio:.2f}   target <= 1.1"
              f"{'' if ratio <= 1.1 else '   NOT MET'}")

    def close(self):
        if getattr(self, "nginx", None) and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(10)
        self.env.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--root", default=os.path.join(REPO, "var", "bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--population", type=int, default=1_000_000)
    ap.add_argument("--stream-records", type=int, default=1_000_000)
    args = ap.parse_args()
    bench = Bench(args)
    try:
        return bench.main()
    finally:
        bench.close()


if __name__ == "__main__":
    sys.exit(main())
