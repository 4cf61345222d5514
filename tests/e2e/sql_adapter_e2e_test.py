"""dx-sql-adapter against a real PostgreSQL 15 server the test starts itself
(issue: adapters for the providers' real systems). bca.population is served
from a table through the adapter and the gateway, both real processes over
loopback mutual TLS; the server's own statement log, pg_stat_activity and a
checksum of the table show what reached the database and what it ran."""
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from consumer import Consumer  # noqa: E402
from dx.v1 import errors_pb2, exchange_pb2, records_pb2  # noqa: E402
from tests.harness import (POPULATION_SQL_DATASET, DevEnv, PostgresServer,  # noqa: E402
                   test_dataset_entry, test_policy_entry)
from grpc_status import detail_of  # noqa: E402
from query_keys_cases import (QKEYS_DATASET, QKEYS_POLICY,  # noqa: E402
                              QKEYS_SQL_DATASET, QueryKeyCases)

H30 = "000.00.00.H30"
G01 = "000.00.00.G01"
READER_PASSWORD = "reader-secret-ü"

EXTRA_TABLES = """
CREATE TABLE registry.typed (
  id integer PRIMARY KEY, amount numeric(40,12), paid boolean,
  recorded timestamptz, note text, due date);
INSERT INTO registry.typed VALUES
  (1, 12345678901234567890.123456789012, true, '2025-07-01 08:30:00+07',
   'Nguyễn Thị Ánh: ghi chú đầy đủ', '2025-12-31'),
  (2, NULL, NULL, NULL, NULL, NULL),
  (3, -0.5, false, '2024-02-29 23:59:59.123456+00', '', '2024-02-29');
CREATE TABLE registry.big AS
  SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 1000000) g;
CREATE FUNCTION registry.nap(seconds float) RETURNS text
  LANGUAGE sql AS $$ SELECT pg_sleep(seconds); SELECT 'awake'::text $$;
CREATE VIEW registry.nap AS SELECT 1 AS id, registry.nap(1.2) AS state;
CREATE VIEW registry.nap8 AS SELECT 1 AS id, registry.nap(8) AS state;
CREATE TABLE registry.locked (id integer PRIMARY KEY, state text);
INSERT INTO registry.locked VALUES (1, 'free');
CREATE FUNCTION registry.noisy() RETURNS text LANGUAGE plpgsql AS $$
  BEGIN RAISE NOTICE 'dx-notice-canary %', 42; RETURN 'ok'; END $$;
CREATE VIEW registry.noisy AS SELECT 1 AS id, registry.noisy() AS state;
"""

DATASETS = POPULATION_SQL_DATASET + QKEYS_SQL_DATASET + """
  - dataset_id: test.typed
    table: registry.typed
    fields: [{name: id}, {name: amount}, {name: paid}, {name: recorded},
             {name: note}, {name: due}]
    query_keys:
      - {field: id, type: integer, required: true}
  - dataset_id: test.typedkeys
    table: registry.typed
    fields: [{name: id}, {name: amount}, {name: paid}, {name: recorded}, {name: due}]
    query_keys:
      - {field: amount, type: numeric}
      - {field: paid, type: boolean}
      - {field: recorded, type: timestamp, range: true}
      - {field: due, type: date}
  - dataset_id: test.big
    table: registry.big
    fields: [{name: id}, {name: payload}]
    query_keys: [{field: id, type: integer, range: true}]
  - dataset_id: test.nap
    table: registry.nap
    fields: [{name: id}, {name: state}]
  - dataset_id: test.napshort
    table: registry.nap8
    fields: [{name: id}, {name: state}]
  - dataset_id: test.locked
    table: registry.locked
    fields: [{name: id}, {name: state}]
  - dataset_id: test.noisy
    table: registry.noisy
    fields: [{name: id}, {name: state}]
"""


# dataset: (fields, timeout_ms, its query keys in the registry: the
# adapter's, so that the gateway lets through what the adapter serves)
TEST_DATASETS = {
    "test.typed": (["id", "amount", "paid", "recorded", "note", "due"], 3000,
                   "[{field: id, required: true}]"),
    "test.typedkeys": (["id", "amount", "paid", "recorded", "due"], 3000,
                       "[{field: amount}, {field: paid}, {field: recorded, range: true}, "
                       "{field: due}]"),
    "test.big": (["id", "payload"], 300000, "[{field: id, range: true}]"),
    "test.nap": (["id", "state"], 5000, "[]"),
    "test.napshort": (["id", "state"], 700, "[]"),
    "test.locked": (["id", "state"], 700, "[]"),
    "test.noisy": (["id", "state"], 3000, "[]"),
}


class SqlAdapterTest(QueryKeyCases, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-sql-")
        root = cls.tmp.name
        cls.pg = PostgresServer(os.path.join(root, "pg"))
        cls.env = DevEnv(os.path.join(root, "env"), BUILD, population=2000, business=20)
        try:
            cls.env.setup()
            # The server speaks TLS with a certificate of the dev PKI; the
            # adapter checks it and its name (sslmode=verify-full).
            pki = os.path.join(cls.env.pki, "adapters", G01)
            cls.pg.use_tls(os.path.join(pki, "tls.pem"), os.path.join(pki, "tls.key")).start()
            cls.pg.create_population(READER_PASSWORD,
                                     os.path.join(cls.env.root, "data", "population.csv"),
                                     EXTRA_TABLES)
            cls.start_sql_adapter()
            cls.env.start_adapter("000.00.00.G12")
            extra = "".join(test_dataset_entry(d, f, t, cls.sql_port, G01, keys)
                            for d, (f, t, keys) in TEST_DATASETS.items())
            cls.env.start_gateway(extra_datasets=extra + QKEYS_DATASET,
                                  extra_policies="".join(test_policy_entry(d, H30)
                                                         for d in TEST_DATASETS) + QKEYS_POLICY)
        except Exception:
            cls.env.close()
            cls.pg.close()
            cls.tmp.cleanup()
            raise

        cls.consumer = Consumer(cls.env)
        cls.stub = cls.consumer.stub

    @classmethod
    def start_sql_adapter(cls, pool_size=2):
        env = cls.env
        env.write("db-password", READER_PASSWORD + "\n")
        cls.sql_port = env.start_custom_adapter("sql", "dx-sql-adapter", G01, f"""\
database:
  conninfo: >-
    host=localhost port={cls.pg.port} dbname=population user=dx_reader
    sslmode=verify-full sslrootcert={env.pki}/root-ca.pem
  password_file: db-password
  pool_size: {pool_size}
  acquire_timeout_ms: 300
  connect_timeout_s: 2
  max_statement_ms: 1500  # shorter than the million-row stream, which is not bound by it
datasets:{DATASETS}""")
        env.adapter_ports[G01] = cls.sql_port  # bca.population's address

    @classmethod
    def tearDownClass(cls):
        cls.consumer.close()
        cls.env.close()
        cls.pg.close()
        cls.tmp.cleanup()

    # ------------------------------------------------------------ helpers --
    def signed(self, **kw):
        return self.consumer.signed(**kw)

    def call(self, **kw):
        return self.consumer.call(**kw)

    def refused(self, code, reason=None, **kw):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.Call(self.signed(**kw), timeout=20)
        err = ctx.exception
        self.assertEqual(err.code(), code, err.details())
        if reason:
            self.assertEqual(errors_pb2.ReasonCode.Name(detail_of(err).reason), reason,
                             err.details())
        return err.details()

    def population(self, sql):
        return self.pg.psql(sql, db="population")

    def adapter_statements(self):
        """Statements the adapter's connections ran, from the server's log."""
        return [line.split("|", 1)[1] for line in self.pg.log().splitlines()
                if line.startswith("dx-sql-adapter|") and
                ("LOG:  execute" in line or "LOG:  statement:" in line)]

    def active_queries(self, like):
        return self.population(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dx-sql-adapter' "
            f"AND state = 'active' AND query LIKE '%{like}%'")

    def open_streams(self):
        """The adapter's sessions running the million-row statement."""
        return self.population(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dx-sql-adapter' "
            "AND state <> 'idle' AND query LIKE '%\"big\"%'")

    def wait_until(self, predicate, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(0.1)
        return predicate()

    # -------------------------------------------------------------- cases --
    def test_lookup_by_each_key_type(self):
        cid = self.population("SELECT citizen_id FROM registry.citizens ORDER BY citizen_id "
                              "OFFSET 7 LIMIT 1")
        cols, rows = self.call(query={"citizen_id": cid})
        self.assertEqual(cols, ["citizen_id", "full_name", "birth_date", "sex",
                                "province_code", "province"])
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][0], cid)
        self.assertEqual(rows[0][1], self.population(
            f"SELECT ho_ten FROM registry.citizens WHERE citizen_id = '{cid}'"))
        # A prefix of a Vietnamese name: exactly the rows the server counts.
        surname = self.population("SELECT split_part(ho_ten, ' ', 1) FROM registry.citizens "
                                  "ORDER BY citizen_id LIMIT 1")
        expected = int(self.population(
            f"SELECT count(*) FROM registry.citizens WHERE ho_ten LIKE '{surname} %'"))
        _, rows = self.call(query={"full_name.prefix": surname + " "})
        self.assertEqual(len(rows), expected)
        self.assertGreater(expected, 0)
        self.assertTrue(all(r[1].startswith(surname + " ") for r in rows))
        # A date range, bounds inclusive.
        expected = int(self.population(
            "SELECT count(*) FROM registry.citizens "
            "WHERE birth_date BETWEEN '1980-01-01' AND '1989-12-31'"))
        _, rows = self.call(query={"birth_date.from": "1980-01-01",
                                   "birth_date.to": "1989-12-31"})
        self.assertEqual(len(rows), expected)
        self.assertTrue(all("1980-01-01" <= r[2] <= "1989-12-31" for r in rows))
        # Integer keys, compared as integers (not as text: "100" > "14").
        _, rows = self.call(dataset="test.big", purpose="testing",
                            query={"id.from": "10", "id.to": "14"})
        self.assertEqual(sorted(int(r[0]) for r in rows), [10, 11, 12, 13, 14])

    def test_connections_are_tls_verified(self):
        self.assert_serves()
        self.assertEqual(self.population(
            "SELECT DISTINCT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
            "WHERE a.application_name = 'dx-sql-adapter'"), "t")
        # The same server checked against another trust anchor: refused.
        other_ca = os.path.join(self.env.root, "other-ca.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", other_ca + ".key",
                        "-out", other_ca, "-subj", "/CN=other", "-days", "1"],
                       check=True, capture_output=True)
        r = subprocess.run(
            ["psql", f"host=localhost port={self.pg.port} dbname=population user=dx_reader "
             f"sslmode=verify-full sslrootcert={other_ca}", "-c", "SELECT 1"],
            capture_output=True, text=True,
            env={**os.environ, "PGPASSWORD": READER_PASSWORD}, timeout=30)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("certificate verify failed", r.stderr)

    def test_numeric_boolean_and_timestamp_keys_compare_as_their_types(self):
        def ids(query):
            _, rows = self.call(dataset="test.typedkeys", purpose="testing", query=query)
            return sorted(r[0] for r in rows)
        self.assertEqual(ids({"amount": "-0.50"}), ["3"])  # numerically, not as text
        self.assertEqual(ids({"paid": "false"}), ["3"])
        self.assertEqual(ids({"recorded.from": "2025-07-01T01:00:00Z"}), ["1"])
        self.assertEqual(ids({"recorded.to": "2025-07-01T08:30:00+07:00"}), ["1", "3"])
        self.assertEqual(ids({"due": "2024-02-29"}), ["3"])
        code, _, details = self.consumer.refusal(dataset="test.typedkeys", purpose="testing",
                                                 query={"paid": "yes"})
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("true or false", details)

    def test_only_the_asked_columns_reach_the_server(self):
        cid = self.population("SELECT citizen_id FROM registry.citizens LIMIT 1")
        before = len(self.adapter_statements())
        cols, rows = self.call(query={"citizen_id": cid}, fields=["full_name"])
        self.assertEqual(cols, ["full_name"])
        new = [s for s in self.adapter_statements()[before:] if "SELECT" in s]
        self.assertTrue(new, self.pg.log()[-2000:])
        # The statement selects one column (full_name is column ho_ten); the
        # value went as a parameter, not in the text.
        select = new[-1]
        self.assertIn('SELECT "ho_ten" FROM "registry"."citizens" WHERE "citizen_id" = $1',
                      select)
        self.assertNotIn(cid, select)

    def test_nulls_numerics_dates_times_and_vietnamese_text(self):
        cols, rows = self.call(dataset="test.typed", purpose="testing", query={"id": "1"})
        self.assertEqual(cols, ["id", "amount", "paid", "recorded", "note", "due"])
        self.assertEqual(rows, [["1", "12345678901234567890.123456789012", "true",
                                 "2025-07-01T01:30:00Z", "Nguyễn Thị Ánh: ghi chú đầy đủ",
                                 "2025-12-31"]])
        _, rows = self.call(dataset="test.typed", purpose="testing", query={"id": "2"})
        self.assertEqual(rows, [["2", None, None, None, None, None]])
        # An empty string is a value, not a missing one.
        _, rows = self.call(dataset="test.typed", purpose="testing", query={"id": "3"})
        self.assertEqual(rows, [["3", "-0.500000000000", "false",
                                 "2024-02-29T23:59:59.123456Z", "", "2024-02-29"]])
        # A reader that predates Row.nulls sees empty strings.
        resp = self.stub.Call(self.signed(dataset="test.typed", purpose="testing",
                                          query={"id": "2"}), timeout=20)
        row = exchange_pb2.ResponseEnvelope.FromString(resp.envelope).records.rows[0]
        self.assertEqual(list(row.values), ["2", "", "", "", "", ""])
        self.assertEqual(list(row.nulls), [1, 2, 3, 4, 5])

    def test_missing_required_key_and_unknown_key_are_named(self):
        # The registry declares the keys: the gateway refuses both itself.
        before = len(self.adapter_statements())
        details = self.refused(grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST",
                               dataset="test.typed", purpose="testing", query={})
        self.assertIn("'id' is required", details)
        details = self.refused(grpc.StatusCode.INVALID_ARGUMENT, "REASON_UNKNOWN_QUERY_KEY",
                               query={"salary": "1"})
        self.assertIn("unknown query key 'salary'", details)
        self.assertIn("full_name.prefix", details)  # what it accepts instead
        self.assertEqual(len(self.adapter_statements()), before)  # nothing reached it
        details = self.refused(grpc.StatusCode.INVALID_ARGUMENT, "REASON_ADAPTER_ERROR",
                               query={"birth_date.from": "01/02/1990"})
        self.assertIn("YYYY-MM-DD", details)
        details = self.refused(grpc.StatusCode.INVALID_ARGUMENT, "REASON_ADAPTER_ERROR",
                               query={"birth_date.from": "1990-02-31"})
        self.assertIn("refused a query value", details)  # the server's calendar

    def test_hostile_values_return_nothing_and_change_nothing(self):
        checksum = "SELECT md5(string_agg(t::text, ',' ORDER BY citizen_id)) FROM registry.citizens t"
        before_sum = self.population(checksum)
        before_count = self.population("SELECT count(*) FROM registry.citizens")
        hostile = ["' OR '1'='1", "'; DROP TABLE registry.citizens; --",
                   "001' --", "/* */ OR 1=1", "1; SELECT pg_sleep(5)", "%", "_", "%%",
                   "\\", "\\'; DELETE FROM registry.citizens; --", "\"", "$1",
                   "Nguyễn'); DROP SCHEMA registry CASCADE; --", "\u202e\u0000x",
                   "🙂' OR ''='", "\u00a0", "x" * 1000]
        statements_before = len(self.adapter_statements())
        for value in hostile:
            for key in ("citizen_id", "full_name.prefix"):
                try:
                    _, rows = self.call(query={key: value})
                except grpc.RpcError as e:  # a value refused as invalid is fine
                    self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT,
                                     (value, e.details()))
                    continue
                # Taken literally: no id is that text, no name starts with it.
                self.assertEqual(rows, [], (key, value))
        self.assertEqual(self.population(checksum), before_sum)
        self.assertEqual(self.population("SELECT count(*) FROM registry.citizens"),
                         before_count)
        # Each request ran only statements of the adapter's own text.
        ran = self.adapter_statements()[statements_before:]
        self.assertGreater(len(ran), 0)
        for s in ran:
            self.assertRegex(s, r'LOG:  (execute \S+: SELECT "|statement: SET statement_timeout = \d+$)')
        # The NUL went nowhere near the server (refused first).
        with self.assertRaises(grpc.RpcError) as ctx:
            self.call(query={"citizen_id": "001\u0000' OR 1=1"})
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("NUL", ctx.exception.details())

    def test_a_million_rows_stream_in_bounded_memory(self):
        pid = self.env.procs["adapter-sql"].pid
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # resets the peak RSS (VmHWM) to the current one

        def status(field):
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1]) // 1024  # MiB
        rss_before = status("VmRSS")
        r = self.env.call(H30, "hotich", "test.big", "testing", "--stream", "--quiet",
                          "--timeout-ms", "300000")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ALLOWED  1000000 record(s)", r.stdout)
        self.assertIn("digest verified", r.stdout)
        growth = status("VmHWM") - rss_before
        print(f"\n  1,000,000 rows: adapter RSS {rss_before} MiB, peak +{growth} MiB",
              file=sys.stderr)
        if not os.environ.get("ASAN_OPTIONS"):  # ASan's quarantine holds freed memory
            self.assertLess(growth, 50)

    def test_a_consumer_that_cancels_halfway_cancels_the_query_on_the_server(self):
        stream = self.stub.Stream(self.signed(dataset="test.big", purpose="testing",
                                              lifetime=120), timeout=120)
        got = 0
        for msg in stream:
            if msg.HasField("batch"):
                got += len(records_pb2.RecordBatch.FromString(msg.batch).rows)
            if got >= 20000:
                break
        # Flow control holds the adapter's stream: its statement still runs.
        self.assertEqual(self.open_streams(), "1")
        stream.cancel()
        self.assertTrue(self.wait_until(lambda: self.open_streams() == "0"),
                        "the statement kept running on the server after the consumer left")
        self.assert_serves()

    def test_a_query_past_its_deadline_is_cancelled_on_the_server(self):
        t0 = time.time()
        self.refused(grpc.StatusCode.DEADLINE_EXCEEDED, "REASON_ADAPTER_TIMEOUT",
                     dataset="test.napshort", purpose="testing")
        # The 8 s statement stops at the gateway's 700 ms deadline, on the
        # server (not left to run).
        self.assertTrue(self.wait_until(lambda: self.active_queries("nap8") == "0", timeout=3),
                        "the statement kept running after the deadline")
        self.assertLess(time.time() - t0, 7)
        self.assert_serves()

    def drop_adapter_sessions(self):
        """Ends the adapter's sessions on the server (as an administrator's
        pg_terminate_backend or a restart would): its pool is then fresh."""
        self.population("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'dx-sql-adapter'")
        self.assertTrue(self.wait_until(lambda: self.population(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'dx-sql-adapter'") == "0"))

    def test_a_locked_table_on_a_fresh_connection_is_left_at_the_deadline(self):
        # A session holds the table's ACCESS EXCLUSIVE lock for 20 s. The
        # adapter's connections are new, so its first command on each is
        # the prepare, which waits for that lock like a query.
        locker = subprocess.Popen(
            [*self.pg.as_user, "psql", "-X", "-q", "-h", self.pg.sockets, "-p", str(self.pg.port),
             "-U", "postgres", "-d", "population", "-c",
             "BEGIN; LOCK TABLE registry.locked IN ACCESS EXCLUSIVE MODE; "
             "SELECT pg_sleep(20); COMMIT;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.assertTrue(self.wait_until(lambda: self.population(
                "SELECT count(*) FROM pg_locks WHERE granted AND mode = 'AccessExclusiveLock' "
                "AND relation = 'registry.locked'::regclass") == "1"))
            self.drop_adapter_sessions()
            for _ in range(2):  # a new session each time, then one whose prepare failed
                self.refused(grpc.StatusCode.DEADLINE_EXCEEDED, "REASON_ADAPTER_TIMEOUT",
                             dataset="test.locked", purpose="testing")
                # The gateway's deadline is 700 ms: the statement leaves the
                # server then, while the lock is still held (it would wait
                # 20 s for it).
                self.assertTrue(
                    self.wait_until(lambda: self.active_queries('"locked"') == "0", timeout=2),
                    "the adapter's statement stayed on the server past the deadline")
            self.assertIsNone(locker.poll(), "the lock was released before the check")
            self.assert_serves()  # the pool was not left full of waiting sessions
        finally:
            locker.kill()
            locker.wait()

    def test_database_notices_go_through_the_adapters_log(self):
        self.assertEqual(self.call(dataset="test.noisy", purpose="testing")[1], [["1", "ok"]])
        log = self.env.log("adapter-sql")
        lines = [x for x in log.splitlines() if "dx-notice-canary 42" in x]
        self.assertTrue(lines, log[-2000:])
        # One line of the adapter's own format, not libpq's raw "NOTICE:  ...".
        self.assertTrue(all("database notice" in x for x in lines), lines)
        self.assertFalse(any(x.startswith("NOTICE:") for x in log.splitlines()), lines)

    def test_pool_exhausted_is_a_clear_refusal_not_a_hang(self):
        results = []

        def slow():
            try:
                results.append(self.call(dataset="test.nap", purpose="testing")[1])
            except grpc.RpcError as e:
                results.append(e)
        threads = [threading.Thread(target=slow) for _ in range(2)]  # pool_size 2
        for t in threads:
            t.start()
        self.assertTrue(self.wait_until(lambda: self.active_queries('"nap"') == "2"))
        details = self.refused(grpc.StatusCode.UNAVAILABLE, "REASON_ADAPTER_UNAVAILABLE",
                               query={"citizen_id": "001000000000"})
        self.assertIn("database connections of the adapter are busy", details)
        for t in threads:
            t.join(30)
        self.assertEqual(results, [[["1", "awake"]], [["1", "awake"]]])
        self.assert_serves()

    def test_zy_restart_between_requests_first_call_is_served(self):
        # Both pooled connections are idle and open when the server restarts.
        threads = [threading.Thread(target=lambda: self.call(dataset="test.nap", purpose="testing"))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(self.population(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dx-sql-adapter'"), "2")
        self.pg.stop()
        self.pg.start()
        cid = self.population("SELECT citizen_id FROM registry.citizens LIMIT 1")
        # The very first call after the restart is served (no wait, no retry).
        self.assertEqual(len(self.call(query={"citizen_id": cid})[1]), 1)

    def test_zz_database_stopped_then_started_is_served_again_without_restart(self):
        self.pg.stop()
        try:
            for _ in range(2):  # an idle connection is found broken, then a new one fails
                details = self.refused(grpc.StatusCode.UNAVAILABLE, "REASON_ADAPTER_UNAVAILABLE",
                                       query={"citizen_id": "001000000000"})
                self.assertIn("database", details)
        finally:
            self.pg.start()
        self.assert_serves()
        self.assertIsNone(self.env.procs["adapter-sql"].poll())  # the same process

    def assert_serves(self):
        cid = self.population("SELECT citizen_id FROM registry.citizens LIMIT 1")
        self.assertTrue(self.wait_until(lambda: self._serves(cid), timeout=10))

    def _serves(self, cid):
        try:
            return len(self.call(query={"citizen_id": cid})[1]) == 1
        except grpc.RpcError:
            return False


if __name__ == "__main__":
    unittest.main()
