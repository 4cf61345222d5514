#!/usr/bin/env python3
"""make prune-soak: a prune at volume (docs/AUDIT.md, issue operations item 6).

Fills a gateway's log with --records year-old records (bench/audit_fill.cc),
starts the gateway, and prunes them all through the Audit.Prune RPC as an
operator, sampling the gateway's RSS every 50 ms; with --kill it kills the
gateway with SIGKILL halfway through, restarts it (which finishes the
prune) and reports that too; then `dxctl audit verify` over the rest.
The export step of `dxctl audit prune` is skipped (its SHA-256 is that of
the text "prune-soak: no export"): this measures the prune. Asserts
nothing; prints figures.
"""
import argparse
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--records", type=int, default=3_000_000)
    ap.add_argument("--chunk", type=int, default=10000)
    ap.add_argument("--kill", action="store_true", help="kill -9 halfway, then restart")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    sys.path.insert(0, REPO)
    sys.path.insert(0, os.path.join(build, "python"))
    import grpc
    from dx.v1 import audit_pb2, audit_pb2_grpc
    from tests.harness import DevEnv

    with tempfile.TemporaryDirectory(prefix="dx-prune-soak-") as tmp:
        env = DevEnv(tmp, build, population=50, business=10, gateway_settings={
            "audit": f"{{prune_chunk_records: {args.chunk}}}"}).setup()
        try:
            start = int((time.time() - 400 * 86400) * 1e6)
            t0 = time.time()
            subprocess.run([os.path.join(build, "bench", "dx_audit_fill"), "--data-dir",
                            env.data_dir, "--node", "gw1", "--records", str(args.records),
                            "--key", os.path.join(env.pki, "gateway", "sign.key"),
                            "--cert", os.path.join(env.pki, "gateway", "sign.pem"),
                            "--start-micros", str(start)], check=True,
                           stdout=subprocess.DEVNULL)
            print(f"filled {args.records} records in {time.time() - t0:.1f} s", flush=True)
            env.start()
            pid = env.procs["gateway"].pid
            before = rss_kib(pid)
            samples = []
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    samples.append(rss_kib(pid))
                    time.sleep(0.05)
            threading.Thread(target=sample, daemon=True).start()

            def read(p):
                with open(os.path.join(env.pki, p), "rb") as f:
                    return f.read()
            creds = grpc.ssl_channel_credentials(read("root-ca.pem"),
                                                 read("people/ops1/tls.key"),
                                                 read("people/ops1/tls.pem"))
            req = audit_pb2.PruneRequest(
                before_unix_micros=start + args.records * 1000 + 1_000_000,
                export_sha256=hashlib.sha256(b"prune-soak: no export").digest())
            t0 = time.time()
            result = {}

            def prune():
                with grpc.secure_channel(env.gateway, creds) as ch:
                    try:
                        result["r"] = audit_pb2_grpc.AuditStub(ch).Prune(req, timeout=3600)
                    except grpc.RpcError as e:
                        result["e"] = e
            th = threading.Thread(target=prune)
            th.start()
            if args.kill:
                while "prune started" not in env.log("gateway"):
                    time.sleep(0.05)
                time.sleep(max(1.0, args.records / 1e6))  # about halfway on this machine
                env.stop_gateway(signal.SIGKILL)
                killed_at = time.time() - t0
                th.join()
                stop.set()
                t1 = time.time()
                env.start_gateway()
                serving = time.time() - t1
                while "finished an interrupted prune" not in env.log("gateway"):
                    time.sleep(0.1)
                print(f"killed after {killed_at:.1f} s; the restarted node served after "
                      f"{serving:.1f} s and finished the prune after {time.time() - t1:.1f} s",
                      flush=True)
                resumed = [x for x in env.log("gateway").splitlines()
                           if "interrupted prune" in x]
                print("  " + resumed[-1], flush=True)
            else:
                th.join()
                stop.set()
                r = result.get("r")
                print(f"pruned {r.pruned_records if r else '?'} records in "
                      f"{time.time() - t0:.1f} s ({result.get('e', 'ok')})", flush=True)
            peak = max(samples) if samples else before
            print(f"gateway RSS: {before / 1024:.0f} MiB before, {peak / 1024:.0f} MiB peak "
                  f"(+{(peak - before) / 1024:.0f} MiB) over {len(samples)} samples", flush=True)
            r = env.auditor("verify", timeout=3600)
            print("verify:", (r.stdout.strip().splitlines() or ["?"])[-1], flush=True)
        finally:
            env.close()


if __name__ == "__main__":
    main()
