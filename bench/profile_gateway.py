#!/usr/bin/env python3
"""make bench-profile: where the gateway's CPU per exchange goes, by stage.

Starts the dev deployment (file adapter, 100,000 citizens, dxgate with
every check on and the audit log durable), drives it with dxbench as
`make bench` does (64 calls in flight, one citizen, 5 fields), records
the gateway with `perf record --call-graph dwarf` for a few seconds of the
timed window, and prints the stage table of bench/perf_stages.py with the
CPU per call that dxbench measured in the same run, beside the floor of
each signature stage (`openssl speed`). Prints figures; asserts nothing.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from tests.harness import DevEnv, REPO  # noqa: E402
from bench.run_bench import CITIZEN, ecdsa_p256_us  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--seconds", type=float, default=6, help="perf recording")
    ap.add_argument("--frequency", type=int, default=499)
    ap.add_argument("--keep", help="keep perf.data and the script output in this folder")
    a = ap.parse_args()
    if shutil.which("perf") is None:
        sys.exit("perf is not installed (Debian: linux-perf)")
    build = os.path.abspath(a.build_dir)
    work = a.keep or tempfile.mkdtemp(prefix="dx-profile-")
    os.makedirs(work, exist_ok=True)
    env = DevEnv(os.path.join(work, "env"), build, population=100_000, business=100)
    try:
        env.setup()
        env.start()
        gateway = env.procs["gateway"].pid
        warmup = 3
        bench = subprocess.Popen(
            [os.path.join(build, "bench", "dxbench"), "--target", env.gateway,
             "--mode", "gateway", "--pki", env.pki, "--query", f"citizen_id={CITIZEN}",
             *[x for f in ("citizen_id", "full_name", "birth_date", "sex", "province_code")
               for x in ("--field", f)],
             "--concurrency", "64", "--warmup", str(warmup),
             "--duration", str(a.seconds + 4), "--cpu", f"gateway={gateway}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # dxbench signs its requests first ("signing N requests" on stderr,
        # then nothing until the end): wait for the gateway to get busy.
        start_cpu = cpu_ticks(gateway)
        while cpu_ticks(gateway) - start_cpu < 50 and bench.poll() is None:
            time.sleep(0.2)
        time.sleep(warmup)
        data = os.path.join(work, "perf.data")
        subprocess.run(["perf", "record", "-F", str(a.frequency), "-g",
                        "--call-graph", "dwarf,16384", "-o", data, "-p", str(gateway),
                        "--", "sleep", str(a.seconds)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out, err = bench.communicate()
        print("\n".join(line for line in out.splitlines() if not line.startswith("{")))
        us = next(float(line.split("gateway")[1].split("us")[0])
                  for line in out.splitlines() if "CPU per call" in line)
        script = os.path.join(work, "script.txt")
        with open(script, "w") as f:
            subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,dso"], stdout=f,
                           stderr=subprocess.DEVNULL, check=True)
        print(f"\ngateway CPU per call {us:.0f} us (perf running; a run without it is "
              "a few percent lower)\n")
        subprocess.run([sys.executable, os.path.join(HERE, "perf_stages.py"), script,
                        "--us-per-call", str(us)], check=True)
        sign, verify = ecdsa_p256_us()
        print(f"\nfloors (openssl speed ecdsap256, one core, this run): verify {verify:.0f} us, "
              f"sign {sign:.0f} us")
    finally:
        env.close()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


if __name__ == "__main__":
    main()
