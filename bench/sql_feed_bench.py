"""Figures for the SQL adapter's change feed (docs/ADAPTERS.md, Figures):
the triggers' cost on a bulk insert, the feed's stamp-and-read throughput,
and insert-to-delivery latency with a feed waiting on its notification.
It reuses tests/e2e/sql_feed_e2e_test.py's deployment (a real PostgreSQL,
dx-sql-adapter, dxgate) and calls the adapter directly. Prints figures;
asserts nothing.

    DX_BUILD_DIR=$PWD/build /usr/bin/python3 bench/sql_feed_bench.py [--rows N]
"""
import argparse
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, os.path.join(os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build")),
                                "python"))
from tests.e2e import sql_feed_e2e_test as t  # noqa: E402

S = t.S


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--singles", type=int, default=200)
    args = ap.parse_args()
    n = args.rows
    cls = t.SqlFeedEndToEndTest
    cls.setUpClass()
    try:
        self = cls("test_insert_update_delete_arrive_as_three_signed_chained_events")
        columns = "(citizen_id, ho_ten, birth_date, province_code)"
        rows = f"SELECT '{{}}' || g, 'Name ' || g, '1990-01-01', '079' FROM generate_series(1, {n}) g"
        self.sql("CREATE TABLE registry.plain (LIKE registry.citizens)")
        t0 = time.time()
        self.sql(f"INSERT INTO registry.plain {columns} " + rows.format("p"))
        plain = time.time() - t0
        stub = self.adapter_stub()
        end = int(next(stub.Changes(S.ChangesRequest(dataset_id=t.DATASET, from_end=True),
                                    timeout=20)).end_position)
        t0 = time.time()
        self.sql(f"INSERT INTO registry.citizens {columns} " + rows.format("b"))
        triggered = time.time() - t0
        print(f"INSERT ... SELECT of {n} rows: {plain:.2f} s without the feed's triggers, "
              f"{triggered:.2f} s with them")
        t0, got = time.time(), 0
        for b in stub.Changes(S.ChangesRequest(dataset_id=t.DATASET, after_position=str(end),
                                               fields=t.FIELDS, max_changes=10000), timeout=600):
            got += len(b.changes)
            if got >= n:
                break
        dt = time.time() - t0
        print(f"feed: stamped and read {got} changes ({len(t.FIELDS)} fields) in {dt:.2f} s, "
              f"{got / dt:.0f} changes/s")
        feed = stub.Changes(S.ChangesRequest(dataset_id=t.DATASET, from_end=True,
                                             fields=["citizen_id"], idle_seconds=600),
                            timeout=600)
        next(feed)
        psql = subprocess.Popen([*self.pg.as_user, "psql", "-X", "-q", "-h", self.pg.sockets,
                                 "-p", str(self.pg.port), "-U", "postgres", "-d", "population"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        lat = []
        for i in range(args.singles):
            t0 = time.time()
            psql.stdin.write(f"INSERT INTO registry.citizens (citizen_id, ho_ten) "
                             f"VALUES ('l{i}', 'x');\n")
            psql.stdin.flush()
            while not next(feed).changes:
                pass
            lat.append((time.time() - t0) * 1000)
        psql.stdin.close()
        psql.wait()
        feed.cancel()
        lat.sort()
        print(f"insert-to-delivery, one at a time ({len(lat)}): p50 {lat[len(lat) // 2]:.1f} ms, "
              f"p99 {lat[int(len(lat) * 0.99) - 1]:.1f} ms, max {lat[-1]:.1f} ms")
    finally:
        cls.tearDownClass()


if __name__ == "__main__":
    main()
