"""Figures for subscriptions end to end (issue 26, "Figures"; docs/SUBSCRIPTIONS.md,
"Figures"): a real PostgreSQL 15, dx-sql-adapter's outbox feed, dxgate and a
subscribed consumer that acknowledges every batch, all on this machine.

1. Commit-to-delivery latency at a steady write rate (100 and 1,000 single-row
   commits a second by default): for each event, the consumer's receive time
   minus the provider's change time that the event carries (the trigger's
   clock_timestamp(), the same clock), p50 and p99.
2. Events a second through one gateway node for a backlog of N committed
   rows (subscribe, insert N in one statement, read them all), beside a
   direct logical-decoding consumer on the same database reading the same
   WAL (`pg_recvlogical`, plugin test_decoding) as the ceiling: what
   PostgreSQL itself can hand out, with no policy, signature or audit.
3. The gateway's and the adapter's CPU per event over run 2 (/proc utime +
   stime).

Prints figures side by side; asserts nothing. Statement logging is off and
wal_level is logical for this run only.

    DX_BUILD_DIR=$PWD/build /usr/bin/python3 bench/subscription_bench.py \
        [--rates 100,1000] [--seconds 10] [--rows 50000]
"""
import argparse
import os
import signal
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, os.path.join(os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build")),
                                "python"))
from tests.e2e import sql_feed_e2e_test as t  # noqa: E402
from tests.harness import PostgresServer  # noqa: E402

S = t.S
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


class Consumer(threading.Thread):
    """Reads a subscription's stream, acknowledges each batch, and notes
    each event's delay from its commit time and when the last one came."""

    def __init__(self, bench, stream, sub_id, want):
        super().__init__(daemon=True)
        self.bench, self.stream, self.sub_id, self.want = bench, stream, sub_id, want
        self.delays_ms, self.events, self.last_at, self.error = [], 0, None, None
        self.batches = 0

    def run(self):
        try:
            for msg in self.stream:
                if not msg.HasField("batch"):
                    continue
                now = time.time()
                b = S.EventBatch.FromString(msg.batch.envelope)
                for e in b.events:
                    commit = e.commit_time.seconds + e.commit_time.nanos / 1e9
                    self.delays_ms.append((now - commit) * 1000)
                self.events += len(b.events)
                self.batches += 1
                self.last_at = now
                self.bench.h30.ack(self.sub_id, b.last_sequence)
                if self.events >= self.want:
                    return
        except Exception as e:  # a cancelled stream ends the thread
            self.error = e


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="100,1000")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rows", type=int, default=50000)
    args = ap.parse_args()
    PostgresServer.extra_options = ("-c log_statement=none -c wal_level=logical "
                                    "-c max_replication_slots=4 -c max_wal_senders=4")
    cls = t.SqlFeedEndToEndTest
    cls.setUpClass()
    try:
        bench = cls("test_insert_update_delete_arrive_as_three_signed_chained_events")
        pg = bench.pg
        psql_argv = [*pg.as_user, "psql", "-X", "-q", "-h", pg.sockets, "-p", str(pg.port),
                     "-U", "postgres", "-d", "population"]
        print("subscriptions end to end: PostgreSQL 15 (fsync off) -> dx-sql-adapter outbox "
              "-> dxgate -> a consumer acking every batch; one machine")
        print()
        print("1. commit-to-delivery at a steady rate of single-row commits")
        print(f"   {'rate/s':>7} {'written/s':>9} {'events':>7} {'batches':>7} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'max ms':>8}")
        serial = 0
        for rate in [int(r) for r in args.rates.split(",")]:
            want = int(rate * args.seconds)
            stream, opened = bench.h30.subscribe()
            consumer = Consumer(bench, stream, opened.subscription_id, want)
            consumer.start()
            writer = subprocess.Popen(psql_argv, stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, text=True)
            start = time.time()
            for i in range(want):
                # Paced: the i-th commit is due at start + i / rate.
                due = start + i / rate
                lag = due - time.time()
                if lag > 0:
                    writer.stdin.flush()
                    time.sleep(lag)
                serial += 1
                writer.stdin.write("INSERT INTO registry.citizens (citizen_id, ho_ten) "
                                   f"VALUES ('r{serial}', 'x');\n")
            writer.stdin.close()
            writer.wait()
            written = want / (time.time() - start)
            consumer.join(timeout=120)
            stream.cancel()
            d = sorted(consumer.delays_ms)
            print(f"   {rate:>7} {written:>9.0f} {consumer.events:>7} {consumer.batches:>7} "
                  f"{percentile(d, 0.5):>8.1f} "
                  f"{percentile(d, 0.99):>8.1f} {d[-1] if d else float('nan'):>8.1f}")

        n = args.rows
        print()
        print(f"2. a backlog of {n} committed rows, read to the end")
        pg.psql("SELECT pg_create_logical_replication_slot('dx_bench', 'test_decoding')",
                db="population")
        stream, opened = bench.h30.subscribe()
        consumer = Consumer(bench, stream, opened.subscription_id, n)
        gw, ad = bench.env.procs["gateway"].pid, bench.env.procs["adapter-sqlfeed"].pid
        cpu_gw, cpu_ad = cpu_seconds(gw), cpu_seconds(ad)
        bench.sql("INSERT INTO registry.citizens (citizen_id, ho_ten, birth_date, "
                  "province_code) SELECT 'b' || g, 'Name ' || g, '1990-01-01', '079' "
                  f"FROM generate_series(1, {n}) g")
        start = time.time()
        consumer.start()
        consumer.join(timeout=600)
        stream.cancel()
        took = (consumer.last_at or time.time()) - start
        cpu_gw, cpu_ad = cpu_seconds(gw) - cpu_gw, cpu_seconds(ad) - cpu_ad
        # The ceiling: logical decoding of the same WAL, no policy, no signature.
        recv = subprocess.Popen([*pg.as_user, f"{PostgresServer.BIN}/pg_recvlogical", "-h",
                                 pg.sockets, "-p", str(pg.port), "-U", "postgres", "-d",
                                 "population", "--slot", "dx_bench", "--start", "-f", "-",
                                 "-o", "include-xids=0"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                start_new_session=True)
        t0, seen, decoded = time.time(), 0, 0
        for line in recv.stdout:
            decoded += 1
            if line.startswith("table registry.citizens: INSERT"):
                seen += 1
                if seen >= n:
                    break
        direct = time.time() - t0
        os.killpg(recv.pid, signal.SIGTERM)  # runuser and pg_recvlogical under it
        recv.wait()
        for _ in range(100):  # the server notices the client gone within moments
            try:
                pg.psql("SELECT pg_drop_replication_slot('dx_bench')", db="population")
                break
            except RuntimeError:
                time.sleep(0.1)
        print(f"   {'reader':<44} {'events':>7} {'s':>6} {'events/s':>9}")
        print(f"   {'dxgate subscription (signed, audited, acked)':<44} {consumer.events:>7} "
              f"{took:>6.2f} {consumer.events / took:>9.0f}")
        print(f"   {'pg_recvlogical test_decoding (ceiling)':<44} {seen:>7} {direct:>6.2f} "
              f"{seen / direct:>9.0f}")
        print(f"   ratio: the gateway delivers {consumer.events / took / (seen / direct):.2f}x "
              "of the ceiling's rate")
        print()
        print("3. CPU per event over run 2")
        print(f"   dxgate           {cpu_gw / max(consumer.events, 1) * 1e6:>8.1f} µs/event "
              f"({cpu_gw:.2f} s)")
        print(f"   dx-sql-adapter   {cpu_ad / max(consumer.events, 1) * 1e6:>8.1f} µs/event "
              f"({cpu_ad:.2f} s)")
    finally:
        cls.tearDownClass()


if __name__ == "__main__":
    main()
