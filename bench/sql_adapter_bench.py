#!/usr/bin/env python3
"""dx-sql-adapter's figures (docs/ADAPTERS.md), side by side in one run on
one PostgreSQL server this script starts:

1. one look-up by primary key: through dxgate and dx-sql-adapter (dxbench,
   signed requests over mutual TLS), the adapter alone (dxbench --mode
   direct, the gateway's certificate), and a direct libpq client running
   the same prepared query (pg_lookup_bench), each with the same number of
   calls in flight; calls/s, p50, p99, and the ratios;
2. a million rows streamed through dxgate against `psql -c "COPY (SELECT
   ...) TO STDOUT"` on the same server; rows/s and the ratio.

Medians of --rounds rounds, the configurations interleaved in each round
(this machine is shared and noisy). Prints figures; asserts nothing."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tests.harness import POPULATION_SQL_DATASET, REPO, DevEnv, PostgresServer, fresh_root  # noqa: E402

G01, H30 = "000.00.00.G01", "000.00.00.H30"
CITIZEN = "000000123456"
COLUMNS = "citizen_id, ho_ten, birth_date, sex, province_code, province"

# The benchmark's registry: ROWS generated rows (no CSV needed).
FILL = """
INSERT INTO registry.citizens
  SELECT lpad(g::text, 12, '0'), 'Nguyễn Văn ' || g, date '1950-01-01' + g % 25000,
         CASE WHEN g % 2 = 0 THEN 'M' ELSE 'F' END, lpad((g % 63 + 1)::text, 3, '0'),
         'Tỉnh ' || (g % 63 + 1), g || ' Lê Lợi, Hà Nội', 'Kinh'
  FROM generate_series(1, ROWS) g;
ANALYZE registry.citizens;
"""


class Bench:
    def __init__(self, args):
        self.args = args
        root = fresh_root(os.path.abspath(args.root))
        self.build = os.path.abspath(args.build_dir)
        self.env = DevEnv(os.path.join(root, "env"), self.build, population=10, business=10)
        self.pg = PostgresServer(os.path.join(root, "postgres"))

    def start(self):
        self.env.setup()
        self.pg.start()
        t0 = time.time()
        self.pg.create_population("bench-reader",
                                  extra_sql=FILL.replace("ROWS", str(self.args.rows)))
        print(f"   {self.args.rows:,} rows loaded in {time.time() - t0:.0f} s", flush=True)
        # The benchmark server logs no statements (the tests' does).
        self.pg.psql("ALTER SYSTEM SET log_statement = 'none'; SELECT pg_reload_conf()")
        self.env.write("db-password", "bench-reader\n")
        self.conninfo = (f"host=127.0.0.1 port={self.pg.port} dbname=population "
                         "user=dx_reader")
        self.env.adapter_ports[G01] = self.env.start_custom_adapter(
            "sql", "dx-sql-adapter", G01, f"""\
database:
  conninfo: {self.conninfo}
  password_file: db-password
  pool_size: {self.args.concurrency}
datasets:""" + POPULATION_SQL_DATASET)
        self.env.start_gateway()

    def dxbench(self, target, mode, label, extra=()):
        cmd = [os.path.join(self.build, "bench", "dxbench"), "--target", target,
               "--mode", mode, "--pki", self.env.pki, "--label", label,
               "--agency", H30, "--system", "hotich", "--dataset", "bca.population",
               "--purpose", "civil-registration", "--concurrency", str(self.args.concurrency),
               "--duration", str(self.args.duration), "--warmup", "2", *extra]
        return self.result(subprocess.run(cmd, capture_output=True, text=True))

    def libpq(self):
        cmd = [os.path.join(self.build, "bench", "pg_lookup_bench"),
               "--conninfo", self.conninfo, "--param", CITIZEN,
               "--sql", f"SELECT {COLUMNS} FROM registry.citizens WHERE citizen_id = $1",
               "--concurrency", str(self.args.concurrency),
               "--duration", str(self.args.duration), "--warmup", "2"]
        return self.result(subprocess.run(cmd, capture_output=True, text=True,
                                          env={**os.environ, "PGPASSWORD": "bench-reader"}))

    @staticmethod
    def result(out):
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"benchmark failed: {out.stdout}\n{out.stderr}")
        print("   " + out.stdout.splitlines()[0], flush=True)
        return json.loads(lines[-1])

    def stream_gateway(self):
        t0 = time.time()
        r = self.env.call(H30, "hotich", "bca.population", "civil-registration",
                          "--stream", "--quiet", "--timeout-ms", "600000")
        seconds = time.time() - t0
        if f"ALLOWED  {self.args.rows} record(s)" not in r.stdout:
            raise RuntimeError(f"stream failed: {r.stdout}{r.stderr}")
        return self.args.rows / seconds

    def stream_copy(self):
        t0 = time.time()
        with open(os.devnull, "w") as null:
            subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(self.pg.port),
                            "-U", "dx_reader", "-d", "population", "-c",
                            f"COPY (SELECT {COLUMNS} FROM registry.citizens) TO STDOUT"],
                           check=True, stdout=null,
                           env={**os.environ, "PGPASSWORD": "bench-reader"})
        return self.args.rows / (time.time() - t0)

    def run(self):
        a = self.args
        print(f"dx-sql-adapter benchmark, {os.cpu_count()} cores; medians of {a.rounds} rounds, "
              f"{a.concurrency} calls in flight, {a.duration:g} s each", flush=True)
        self.start()
        query = ["--query", f"citizen_id={CITIZEN}"]
        # The six fields the gateway's grant passes on, asked of the adapter too.
        fields = [x for f in ("citizen_id", "full_name", "birth_date", "sex", "province_code",
                              "province") for x in ("--field", f)]
        runs = {"gateway": [], "adapter": [], "libpq": [], "stream": [], "copy": []}
        for r in range(a.rounds):
            print(f"round {r + 1}:", flush=True)
            runs["libpq"].append(self.libpq())
            runs["adapter"].append(self.dxbench(f"127.0.0.1:{self.env.adapter_ports[G01]}",
                                                "direct", "adapter alone", query + fields))
            runs["gateway"].append(self.dxbench(self.env.gateway, "gateway",
                                                "dxgate + dx-sql-adapter", query))
            runs["copy"].append(self.stream_copy())
            runs["stream"].append(self.stream_gateway())
            print(f"   {a.rows:,} rows: psql COPY {runs['copy'][-1]:,.0f} rows/s, "
                  f"dxgate stream {runs['stream'][-1]:,.0f} rows/s", flush=True)

        def med(key, field):
            return statistics.median(x[field] for x in runs[key])
        print("\nlook-up by primary key         calls/s     p50 ms   p99 ms")
        for key, name in (("libpq", "1 libpq, prepared (direct)"),
                          ("adapter", "2 dx-sql-adapter alone"),
                          ("gateway", "3 dxgate + dx-sql-adapter")):
            print(f"{name:<30} {med(key, 'throughput'):8.0f}  {med(key, 'p50_us') / 1000:8.2f} "
                  f"{med(key, 'p99_us') / 1000:8.2f}")
        print(f"ratio 3/1 (dxgate / direct libpq):  {med('gateway', 'throughput') / med('libpq', 'throughput'):.2f}")
        print(f"ratio 2/1 (adapter / direct libpq): {med('adapter', 'throughput') / med('libpq', 'throughput'):.2f}")
        stream, copy = statistics.median(runs["stream"]), statistics.median(runs["copy"])
        print(f"\n{a.rows:,} rows: dxgate stream {stream:,.0f} rows/s, psql COPY {copy:,.0f} rows/s, "
              f"ratio {stream / copy:.2f}   target >= 0.5")

    def close(self):
        self.env.close()
        self.pg.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--root", default=os.path.join(REPO, "var", "sql-bench"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10)
    args = ap.parse_args()
    bench = Bench(args)
    try:
        bench.run()
    finally:
        bench.close()


if __name__ == "__main__":
    main()
