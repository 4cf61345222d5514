"""The SQL adapter's change feed (issue 26, item 4) end to end: a real
PostgreSQL 15, the outbox its own `--print-change-feed-ddl` created, a real
dx-sql-adapter and dxgate over loopback mutual TLS, and a subscribed
consumer. Each signed batch is checked with the openssl CLI and the chain
by the subscription tests' independent checker. One deployment for the
class; the adapter is restarted (same port) by the tests that need it."""
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from dx.v1 import adapter_pb2_grpc, subscription_pb2  # noqa: E402
from tests.harness import DevEnv, PostgresServer  # noqa: E402
from tests.harness.dev_env import free_ports, test_dataset_entry  # noqa: E402
import subscription_e2e_test as sub  # noqa: E402  (a module: its tests are not re-run)
from subscription_e2e_test import Subscriber, check_chain, read_events  # noqa: E402

S = subscription_pb2
G01 = "000.00.00.G01"
DATASET = "test.citizens"
FIELDS = ["citizen_id", "full_name", "birth_date", "province_code"]
READER_PASSWORD = "feed-reader-secret"
POLICY = """
  - dataset: test.citizens
    grants:
      - {id: citizens-feed, consumers: [000.00.00.H30], purposes: [testing],
         fields: [citizen_id, full_name, birth_date], modes: [subscription],
         legal_basis: tests}
      - {id: citizens-feed-079, consumers: [000.00.00.H29], purposes: [testing],
         fields: [citizen_id, full_name, province_code], modes: [subscription],
         row_filter: "province_code == '079'", legal_basis: tests}
"""


class SqlFeedEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-sqlfeed-")
        root = cls.tmp.name
        cls.pg = PostgresServer(os.path.join(root, "pg"))
        cls.env = DevEnv(os.path.join(root, "env"), BUILD, population=10, business=10,
                         gateway_settings={"subscriptions": "{heartbeat_seconds: 1, "
                                                            "max_unacked_batches: 4}"})
        try:
            cls.env.setup()
            cls.pg.start()
            cls.pg.create_population(READER_PASSWORD)
            cls.env.write("db-password", READER_PASSWORD + "\n")
            cls.port = free_ports(1)[0]
            cls.body = f"""\
database:
  conninfo: host=127.0.0.1 port={cls.pg.port} dbname=population user=dx_reader sslmode=disable
  password_file: db-password
  connect_timeout_s: 2
datasets:
  - dataset_id: {DATASET}
    table: registry.citizens
    fields:
      - {{name: citizen_id}}
      - {{name: full_name, column: ho_ten}}
      - {{name: birth_date}}
      - {{name: province_code}}
    query_keys: [{{field: citizen_id}}]
    change_feed: {{outbox_table: registry.citizens_outbox, key_field: citizen_id}}
  - dataset_id: test.nofeed
    table: registry.citizens
    fields: [{{name: citizen_id}}]
"""
            # The operator's step: the adapter prints the DDL, the owner runs it.
            config = cls.env.write("sqlfeed-ddl.yaml", "port_file: x\n" + cls.body)
            ddl = subprocess.run([os.path.join(BUILD, "adapters", "dx-sql-adapter"),
                                  "--print-change-feed-ddl", config],
                                 capture_output=True, text=True, check=True).stdout
            cls.pg.psql(ddl, db="population")
            cls.start_sql_adapter()
            cls.env.start_gateway(test_dataset_entry(DATASET, FIELDS, 3000, cls.port, G01),
                                  POLICY)
            cls.h30 = Subscriber(cls.env, dataset=DATASET)
        except Exception:
            cls.env.close()
            cls.pg.close()
            cls.tmp.cleanup()
            raise

    @classmethod
    def start_sql_adapter(cls):
        cls.env.start_custom_adapter("sqlfeed", "dx-sql-adapter", G01, cls.body, port=cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.h30.close()
        cls.env.close()
        cls.pg.close()
        cls.tmp.cleanup()

    # ------------------------------------------------------------ helpers --
    def sql(self, statement):
        return self.pg.psql(statement, db="population")

    def insert(self, key, name):
        self.sql(f"INSERT INTO registry.citizens (citizen_id, ho_ten, birth_date, "
                 f"province_code) VALUES ('{key}', '{name}', '1990-02-03', '079')")

    def openssl_verifies(self, signed):
        return sub.SubscriptionEndToEndTest.openssl_verifies(self, signed)

    @staticmethod
    def events_of(batches):
        return [e for b in batches for e in S.EventBatch.FromString(b.envelope).events]

    def restart_adapter(self, sig=signal.SIGKILL):
        self.env._stop("adapter-sqlfeed", sig)
        self.start_sql_adapter()

    def adapter_stub(self):
        """The adapter called directly, as the gateway calls it (its TLS
        certificate is one the adapter allows)."""
        def read(p):
            with open(os.path.join(self.env.pki, p), "rb") as f:
                return f.read()
        channel = grpc.secure_channel(
            f"127.0.0.1:{self.port}",
            grpc.ssl_channel_credentials(read("root-ca.pem"), read("gateway/tls.key"),
                                         read("gateway/tls.pem")),
            options=[("grpc.ssl_target_name_override", "localhost")])
        self.addCleanup(channel.close)
        return adapter_pb2_grpc.AdapterStub(channel)

    # -------------------------------------------------------------- tests --
    def test_insert_update_delete_arrive_as_three_signed_chained_events(self):
        stream, opened = self.h30.subscribe()
        self.insert("079000000101", "Nguyễn Văn Bình")
        self.sql("UPDATE registry.citizens SET ho_ten = 'Nguyễn Văn Bính' "
                 "WHERE citizen_id = '079000000101'")
        self.sql("DELETE FROM registry.citizens WHERE citizen_id = '079000000101'")
        batches = read_events(stream, 3, max_heartbeats=20)
        stream.cancel()
        for b in batches:
            self.assertTrue(self.openssl_verifies(b), "openssl does not verify a batch")
        _, last = check_chain(opened.chain_head_sha256, 0, batches)
        self.assertEqual(last, 3)
        events = self.events_of(batches)
        self.assertEqual([e.kind for e in events],
                         [S.CHANGE_KIND_INSERT, S.CHANGE_KIND_UPDATE, S.CHANGE_KIND_DELETE])
        self.assertEqual({e.key for e in events}, {"079000000101"})
        # The granted fields only, formatted as a look-up formats them.
        columns = list(S.EventBatch.FromString(batches[0].envelope).columns)
        self.assertEqual(columns, ["citizen_id", "full_name", "birth_date"])
        self.assertEqual(list(events[0].values.values),
                         ["079000000101", "Nguyễn Văn Bình", "1990-02-03"])
        self.assertEqual(events[1].values.values[1], "Nguyễn Văn Bính")
        self.assertEqual(len(events[2].values.values), 0)  # a delete carries none
        # The provider's change time, not the gateway's: within the test's run.
        for e in events:
            self.assertLess(abs(e.commit_time.seconds - time.time()), 600)
        # TRUNCATE fires no row trigger: it would empty the table behind the
        # feed, so the DDL's statement trigger refuses it.
        with self.assertRaises(RuntimeError) as ctx:
            self.sql("TRUNCATE registry.citizens")
        self.assertIn("would bypass its change feed", str(ctx.exception))

    def test_a_province_is_told_what_leaves_its_rows_and_what_is_deleted_in_them(self):
        # The outbox keeps the record as it was (to_jsonb(OLD)): the gateway
        # decides the row filter on it for a delete and for a record that
        # moves out, and sends neither's values.
        h29 = Subscriber(self.env, "000.00.00.H29", dataset=DATASET)
        self.addCleanup(h29.close)
        stream, opened = h29.subscribe(system="motcua")
        try:
            self.insert("079000000201", "Lâm Văn An")
            self.sql("UPDATE registry.citizens SET province_code = '001' "
                     "WHERE citizen_id = '079000000201'")
            self.sql("INSERT INTO registry.citizens (citizen_id, ho_ten, birth_date, "
                     "province_code) VALUES ('001000000202', 'Lâm Thị Bé', '1990-02-03', '001')")
            self.sql("DELETE FROM registry.citizens WHERE citizen_id = '001000000202'")
            self.insert("079000000203", "Lâm Văn Cư")
            self.sql("DELETE FROM registry.citizens WHERE citizen_id = '079000000203'")
            batches = read_events(stream, 4, max_heartbeats=20)
        finally:
            stream.cancel()
        check_chain(opened.chain_head_sha256, 0, batches)
        events = self.events_of(batches)
        self.assertEqual([(e.key, S.ChangeKind.Name(e.kind)) for e in events],
                         [("079000000201", "CHANGE_KIND_INSERT"),
                          ("079000000201", "CHANGE_KIND_LEFT_VIEW"),
                          ("079000000203", "CHANGE_KIND_INSERT"),
                          ("079000000203", "CHANGE_KIND_DELETE")])
        self.assertEqual([len(e.values.values) for e in events], [3, 0, 3, 0])
        raw = b"".join(b.envelope for b in batches)
        self.assertNotIn("001000000202".encode(), raw)  # never in its rows: never named

    def test_a_lower_id_committed_last_still_arrives(self):
        """The sequencer's point: T1 takes the lower outbox id and commits
        after T2. A reader by id would be past T1's id when it commits and
        never see it; stamped at commit order, both arrive."""
        stream, _ = self.h30.subscribe()
        env = dict(os.environ, PGAPPNAME="dx-feed-t1")
        t1 = subprocess.Popen(
            [*self.pg.as_user, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
             self.pg.sockets, "-p", str(self.pg.port), "-U", "postgres", "-d", "population"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, env=env)
        try:
            t1.stdin.write("BEGIN;\nINSERT INTO registry.citizens (citizen_id, ho_ten) "
                           "VALUES ('079000000301', 'Trần Văn Một');\n")
            t1.stdin.flush()
            # T1 has inserted (its outbox row holds the lower id) and waits.
            deadline = time.time() + 30
            while self.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                           "'dx-feed-t1' AND state = 'idle in transaction'") != "1":
                self.assertLess(time.time(), deadline, "T1 did not insert")
                time.sleep(0.05)
            self.insert("079000000302", "Lê Thị Hai")  # T2, committed first
            [first] = self.events_of(read_events(stream, 1, max_heartbeats=20))
            self.assertEqual(first.key, "079000000302")
            t1.stdin.write("COMMIT;\n")
            t1.stdin.close()
            self.assertEqual(t1.wait(30), 0, t1.stderr.read())
        finally:
            if t1.poll() is None:
                t1.kill()
                t1.wait()
            t1.stderr.close()
        [second] = self.events_of(read_events(stream, 1, max_heartbeats=10))
        stream.cancel()
        self.assertEqual(second.key, "079000000301")
        self.assertEqual(second.sequence, first.sequence + 1)
        # What made it a trap: the lower id, stamped the higher position.
        rows = self.sql("SELECT key, id, seq FROM registry.citizens_outbox WHERE key IN "
                        "('079000000301', '079000000302') ORDER BY key")
        (k1, id1, seq1), (k2, id2, seq2) = [r.split("|") for r in rows.splitlines()]
        self.assertLess(int(id1), int(id2))
        self.assertGreater(int(seq1), int(seq2))

    def test_resume_after_an_adapter_kill_loses_nothing(self):
        stream, opened = self.h30.subscribe()
        sub_id = opened.subscription_id
        self.insert("079000000401", "Phạm Văn Bốn")
        batches = read_events(stream, 1, max_heartbeats=20)
        head, last = check_chain(opened.chain_head_sha256, 0, batches)
        self.h30.ack(sub_id, last)
        stream.cancel()
        self.env._stop("adapter-sqlfeed", signal.SIGKILL)
        # Committed while the adapter is down: stamped by the next one.
        self.insert("079000000402", "Võ Thị Năm")
        self.sql("UPDATE registry.citizens SET ho_ten = 'Võ Thị Nắm' "
                 "WHERE citizen_id = '079000000402'")
        self.start_sql_adapter()
        stream, opened = self.h30.subscribe(start=S.START_FROM_CURSOR, sub_id=sub_id,
                                            acked=last)
        self.assertEqual(opened.chain_head_sha256, head)
        batches = read_events(stream, 2, max_heartbeats=20)
        stream.cancel()
        _, last2 = check_chain(head, last, batches)
        events = self.events_of(batches)
        self.assertEqual([(e.sequence, e.key, e.kind) for e in events],
                         [(last + 1, "079000000402", S.CHANGE_KIND_INSERT),
                          (last + 2, "079000000402", S.CHANGE_KIND_UPDATE)])
        self.assertEqual(events[1].values.values[1], "Võ Thị Nắm")

    def test_an_outbox_no_one_reads_is_stamped_and_pruned_by_the_adapter(self):
        # No feed runs: the adapter's housekeeping (at its start, then every
        # minute) stamps what writers committed and prunes what is too old,
        # so an outbox without consumers stays bounded.
        self.env._stop("adapter-sqlfeed", signal.SIGKILL)
        try:
            self.insert("079000000651", "Hà Văn Mười")  # while nothing can stamp
            self.insert("079000000652", "Hà Văn Một")
            unstamped = "SELECT count(*) FROM registry.citizens_outbox WHERE seq IS NULL"
            self.assertEqual(self.sql(unstamped), "2")
            self.sql("UPDATE registry.citizens_outbox SET committed_at = now() - "
                     "interval '169 hours'")
        finally:
            self.start_sql_adapter()  # and no feed is opened
        for _ in range(600):  # a bound, not a timing: the work is two statements
            if self.sql("SELECT count(*) FROM registry.citizens_outbox") == "0":
                break
            time.sleep(0.1)
        self.assertEqual(self.sql("SELECT count(*) FROM registry.citizens_outbox"), "0")
        horizon = int(self.sql("SELECT max(through) FROM registry.citizens_outbox_pruned"))
        self.assertEqual(horizon, int(self.sql(
            "SELECT last_value FROM registry.citizens_outbox_seq")))

    def test_position_older_than_the_retention_is_out_of_range(self):
        self.insert("079000000501", "Đặng Văn Sáu")
        self.insert("079000000502", "Đặng Văn Bảy")
        # Two changes a week old (keep_hours defaults to 168); a restarted
        # adapter prunes at its first feed.
        stub = self.adapter_stub()
        first = next(stub.Changes(S.ChangesRequest(dataset_id=DATASET, from_end=True),
                                  timeout=20))
        end = int(first.end_position)
        self.sql("UPDATE registry.citizens_outbox SET committed_at = now() - "
                 f"interval '169 hours' WHERE seq <= {end}")
        self.restart_adapter()
        stub = self.adapter_stub()
        with self.assertRaises(grpc.RpcError) as ctx:
            list(stub.Changes(S.ChangesRequest(dataset_id=DATASET, after_position="1",
                                               fields=["citizen_id"]), timeout=20))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.OUT_OF_RANGE)
        self.assertIn("resynchronise", ctx.exception.details())
        self.assertEqual(self.sql("SELECT count(*) FROM registry.citizens_outbox "
                                  f"WHERE seq <= {end}"), "0")
        self.assertEqual(self.sql("SELECT through FROM registry.citizens_outbox_pruned"),
                         str(end))
        # From the horizon on, the feed serves; a malformed position is refused.
        self.insert("079000000503", "Đặng Văn Tám")
        # idle_seconds 600: the next change must come by the trigger's
        # notification, within the call's 20 s, not by the idle poll.
        feed = stub.Changes(S.ChangesRequest(dataset_id=DATASET, after_position=str(end),
                                             fields=["citizen_id"], idle_seconds=600),
                            timeout=20)
        self.assertEqual([c.key for c in next(feed).changes], ["079000000503"])
        self.insert("079000000504", "Đặng Văn Chín")
        self.assertEqual([c.key for c in next(feed).changes], ["079000000504"])
        feed.cancel()
        # A position beyond the end (an outbox recreated, a database
        # restored from a backup) would silently skip what is numbered
        # again below it: refused as well.
        with self.assertRaises(grpc.RpcError) as ctx:
            list(stub.Changes(S.ChangesRequest(dataset_id=DATASET,
                                               after_position="999999999"), timeout=20))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.OUT_OF_RANGE)
        self.assertIn("beyond the change feed's end", ctx.exception.details())
        for bad in ("-1", "x", "1; DELETE FROM registry.citizens_outbox"):
            with self.assertRaises(grpc.RpcError) as ctx:
                list(stub.Changes(S.ChangesRequest(dataset_id=DATASET, after_position=bad),
                                  timeout=20))
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, bad)

    def test_a_lost_database_connection_ends_the_feed_unavailable(self):
        stub = self.adapter_stub()
        feed = stub.Changes(S.ChangesRequest(dataset_id=DATASET, from_end=True,
                                             idle_seconds=600), timeout=20)
        next(feed)  # the start position: the feed now waits on its connection
        self.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE application_name = 'dx-sql-adapter'")
        with self.assertRaises(grpc.RpcError) as ctx:
            next(feed)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE,
                         ctx.exception.details())
        # The next feed gets a new connection.
        feed = stub.Changes(S.ChangesRequest(dataset_id=DATASET, from_end=True,
                                             fields=["citizen_id"], idle_seconds=600),
                            timeout=20)
        self.assertEqual(len(next(feed).changes), 0)
        self.insert("079000000601", "Bùi Văn Mười")
        self.assertEqual([c.key for c in next(feed).changes], ["079000000601"])
        feed.cancel()

    def test_a_providers_correction_arrives_and_a_row_that_does_not_fit_stops_the_feed(self):
        stream, _ = self.h30.subscribe()
        self.insert("079000000701", "Ngô Văn Bảy")
        # The provider marks a correction by writing the outbox itself.
        self.sql("INSERT INTO registry.citizens_outbox (key, kind, row) VALUES "
                 "('079000000701', 'correction', '{\"citizen_id\": \"079000000701\", "
                 "\"ho_ten\": \"Ngô Văn Bẩy\", \"birth_date\": \"1990-02-04\"}')")
        events = self.events_of(read_events(stream, 2, max_heartbeats=20))
        stream.cancel()
        self.assertEqual([e.kind for e in events],
                         [S.CHANGE_KIND_INSERT, S.CHANGE_KIND_CORRECTION])
        self.assertEqual(list(events[1].values.values),
                         ["079000000701", "Ngô Văn Bẩy", "1990-02-04"])
        # A hand-written row whose value does not fit the table's type: the
        # feed stops at it, naming where, rather than skip or garble it.
        stub = self.adapter_stub()
        end = next(stub.Changes(S.ChangesRequest(dataset_id=DATASET, from_end=True),
                                timeout=20)).end_position
        self.sql("INSERT INTO registry.citizens_outbox (key, kind, row) VALUES "
                 "('079000000701', 'correction', '{\"birth_date\": \"not a date\"}')")
        try:
            with self.assertRaises(grpc.RpcError) as ctx:
                list(stub.Changes(S.ChangesRequest(dataset_id=DATASET, after_position=end,
                                                   fields=["birth_date"]), timeout=20))
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
            self.assertIn(f"after position {end}", ctx.exception.details())
            self.assertIn("correct or delete that outbox row", ctx.exception.details())
        finally:
            self.sql("DELETE FROM registry.citizens_outbox WHERE row->>'birth_date' = 'not a date'")
        # A kind outside the four is refused by the table itself.
        with self.assertRaises(RuntimeError):
            self.sql("INSERT INTO registry.citizens_outbox (key, kind) VALUES ('k', 'drop')")

    def test_a_writer_without_rights_on_the_outbox_is_captured_but_cannot_forge_it(self):
        self.sql("CREATE ROLE clerk LOGIN; GRANT USAGE ON SCHEMA registry TO clerk; "
                 "GRANT SELECT, INSERT, UPDATE, DELETE ON registry.citizens TO clerk")

        def as_clerk(statement):
            return self.pg._run("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                "-h", self.pg.sockets, "-p", str(self.pg.port), "-U", "clerk",
                                "-d", "population", input=statement, check=False)
        stream, _ = self.h30.subscribe()
        r = as_clerk("INSERT INTO registry.citizens (citizen_id, ho_ten) "
                     "VALUES ('079000000801', 'Mai Văn Tám')")
        self.assertEqual(r.returncode, 0, r.stderr)
        [event] = self.events_of(read_events(stream, 1, max_heartbeats=20))
        stream.cancel()
        self.assertEqual((event.key, event.kind), ("079000000801", S.CHANGE_KIND_INSERT))
        # The trigger writes as the outbox's owner; the clerk cannot write
        # the outbox (a forged change), stamp it, or call the function.
        for forged in ("INSERT INTO registry.citizens_outbox (key, kind) "
                       "VALUES ('079000000999', 'delete')",
                       "UPDATE registry.citizens_outbox SET seq = 1",
                       "SELECT registry.citizens_outbox_capture()"):
            r = as_clerk(forged)
            self.assertNotEqual(r.returncode, 0, forged)
            self.assertIn("permission denied", r.stderr, forged)

    def test_a_dataset_without_a_change_feed_says_how_to_configure_one(self):
        with self.assertRaises(grpc.RpcError) as ctx:
            list(self.adapter_stub().Changes(S.ChangesRequest(dataset_id="test.nofeed"),
                                             timeout=20))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assertIn("give it a change_feed", ctx.exception.details())

    def read_acking(self, stream, sub_id, until, max_heartbeats=30):
        """Signed batches, each acknowledged as a consumer that made it
        durable would (the gateway holds a feed at max_unacked_batches),
        until `until(batches)` holds; bounded by heartbeats, not time."""
        batches, beats = [], 0
        while not until(batches):
            msg = next(stream)
            if msg.HasField("heartbeat"):
                beats += 1
                self.assertLessEqual(beats, max_heartbeats, "the feed stalled")
                continue
            beats = 0
            batches.append(msg.batch)
            self.h30.ack(sub_id, S.EventBatch.FromString(msg.batch.envelope).last_sequence)
        return batches

    def test_full_then_incremental_snapshot_plus_changes_equal_the_table(self):
        """START_FROM_SNAPSHOT: every record, then every change since the
        snapshot began. Written to while the snapshot is read and resumed
        in its middle, the consumer's copy (snapshot events applied, then
        changes) equals the table at the end."""
        self.sql("INSERT INTO registry.citizens (citizen_id, ho_ten, birth_date, "
                 "province_code) SELECT '0791' || lpad(i::text, 8, '0'), "
                 "'Snapshot ' || i, '1990-02-03', '079' FROM generate_series(1, 1000) i")
        stream, opened = self.h30.subscribe(start=S.START_FROM_SNAPSHOT)
        sub_id = opened.subscription_id
        first = self.read_acking(stream, sub_id, lambda b: len(b) >= 1)
        stream.cancel()
        head, last = check_chain(opened.chain_head_sha256, 0, first)
        self.assertEqual({e.kind for e in self.events_of(first)}, {S.CHANGE_KIND_SNAPSHOT})
        self.assertLess(last, 1000, "a page, not the whole table")
        # Written while the snapshot is half read: records already sent and
        # records still to come change, go, or are added on both sides.
        self.sql("UPDATE registry.citizens SET ho_ten = ho_ten || ' (sửa)' "
                 "WHERE citizen_id IN ('079100000001', '079100000900')")
        self.sql("DELETE FROM registry.citizens WHERE citizen_id IN "
                 "('079100000002', '079100000901')")
        self.sql("INSERT INTO registry.citizens (citizen_id, ho_ten) VALUES "
                 "('079100000000', 'Trước hết'), ('079199999999', 'Sau cùng')")
        stream, reopened = self.h30.subscribe(start=S.START_FROM_CURSOR, sub_id=sub_id,
                                              acked=last)
        self.assertEqual(reopened.chain_head_sha256, head)
        self.sql("UPDATE registry.citizens SET ho_ten = 'Cuối' "
                 "WHERE citizen_id = '079100000500'")
        self.insert("079100009999", "Dấu kết thúc")  # the last change written

        def done(batches):
            return any(e.key == "079100009999" and e.kind == S.CHANGE_KIND_INSERT
                       for e in self.events_of(batches))
        rest = self.read_acking(stream, sub_id, done)
        stream.cancel()
        batches = first + rest
        check_chain(opened.chain_head_sha256, 0, batches)
        for b in batches[:3] + batches[-2:]:
            self.assertTrue(self.openssl_verifies(b))
        # The snapshot comes first, and says once that it is complete.
        marks = [i for i, b in enumerate(batches)
                 if S.EventBatch.FromString(b.envelope).snapshot_complete]
        self.assertEqual(len(marks), 1, marks)
        events = self.events_of(batches)
        kinds = [e.kind for e in events]
        first_change = next(i for i, k in enumerate(kinds) if k != S.CHANGE_KIND_SNAPSHOT)
        self.assertNotIn(S.CHANGE_KIND_SNAPSHOT, kinds[first_change:])
        marked = sum(len(S.EventBatch.FromString(b.envelope).events)
                     for b in batches[:marks[0] + 1])
        self.assertEqual(marked, first_change)
        copy = {}
        for e in events:
            if e.kind in (S.CHANGE_KIND_DELETE, S.CHANGE_KIND_LEFT_VIEW):
                copy.pop(e.key, None)
            else:
                copy[e.key] = tuple(e.values.values[:2])
        table = {}
        for line in self.sql("SELECT citizen_id, ho_ten FROM registry.citizens").splitlines():
            key, name = line.split("|")
            table[key] = (key, name)
        self.assertEqual(len(copy), len(table))
        self.assertEqual(copy, table)
        self.assertEqual(copy["079100000500"][1], "Cuối")
        self.assertNotIn("079100000901", copy)
        # A snapshot position names a record by its key: the audit log shows
        # only its "snapshot:P" part.
        positions = [r.get("provider_position", "") for r in self.env.audit_records()
                     if r.get("subscription_id") == sub_id]
        self.assertTrue(any(p.startswith("snapshot:") for p in positions), positions)
        for p in positions:
            self.assertNotIn("0791", p)

    def test_dxctl_subscribe_from_snapshot_prints_every_record_then_says_so(self):
        self.insert("079000000771", "Đỗ Văn Ảnh")
        cursor = os.path.join(self.tmp.name, "snapshot.cursor")
        r = self.env.dxctl("subscribe", "--gateway", self.env.gateway, "--pki", self.env.pki,
                           "--agency", "000.00.00.H30", "--system", "hotich",
                           "--dataset", DATASET, "--purpose", "testing", "--from", "snapshot",
                           "--cursor", cursor, "--max-idle", "3")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        snapshot = [line.split()[2] for line in lines if line.split()[1:2] == ["snapshot"]]
        keys = self.sql("SELECT citizen_id FROM registry.citizens").split()
        self.assertEqual(sorted(snapshot), sorted(keys))
        self.assertIn("079000000771", snapshot)
        [done] = [i for i, line in enumerate(lines) if line.startswith("SNAPSHOT COMPLETE")]
        self.assertGreater(done, max(i for i, line in enumerate(lines)
                                     if line.split()[1:2] == ["snapshot"]))
        r = self.env.dxctl("subscribe", "--gateway", self.env.gateway, "--pki", self.env.pki,
                           "--agency", "000.00.00.H30", "--system", "hotich",
                           "--dataset", DATASET, "--purpose", "testing", "--from", "yesterday")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--from is now, beginning or snapshot", r.stdout + r.stderr)

    def test_snapshot_positions_are_the_adapters_and_checked(self):
        stub = self.adapter_stub()
        start = list(stub.Changes(S.ChangesRequest(
            dataset_id=DATASET, snapshot_first=True, position_only=True,
            fields=["citizen_id"]), timeout=20))
        self.assertEqual(len(start), 1)
        self.assertTrue(start[0].in_snapshot)
        self.assertTrue(start[0].end_position.startswith("snapshot:"))
        for bad in ("snapshot:x", "snapshot:-1:a", "snapshot:", "snapshot:1:" + "k" * 5000):
            with self.assertRaises(grpc.RpcError) as ctx:
                list(stub.Changes(S.ChangesRequest(dataset_id=DATASET, after_position=bad,
                                                   fields=["citizen_id"]), timeout=20))
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, bad)
        # A key is a value, never SQL: it travels as a parameter.
        count = self.sql("SELECT count(*) FROM registry.citizens")
        feed = stub.Changes(S.ChangesRequest(
            dataset_id=DATASET, fields=["citizen_id"], idle_seconds=600,
            after_position=start[0].end_position + ":') OR true; DROP TABLE x; --"),
            timeout=20)
        page = next(feed)
        feed.cancel()
        self.assertTrue(page.in_snapshot)
        self.assertTrue(all(c.kind == S.CHANGE_KIND_SNAPSHOT for c in page.changes))
        self.assertEqual(self.sql("SELECT count(*) FROM registry.citizens"), count)

    def test_zz_a_consumer_behind_the_retention_is_told_to_resynchronise(self):
        stream, opened = self.h30.subscribe()
        self.insert("079000000991", "Lý Văn Một")
        _, last = check_chain(opened.chain_head_sha256, 0,
                              read_events(stream, 1, max_heartbeats=20))
        self.h30.ack(opened.subscription_id, last)
        stream.cancel()
        self.insert("079000000992", "Lý Văn Hai")
        self.sql("UPDATE registry.citizens_outbox SET committed_at = now() - "
                 "interval '169 hours'")
        self.restart_adapter()  # a new adapter prunes at its first feed
        next(self.adapter_stub().Changes(S.ChangesRequest(dataset_id=DATASET, from_end=True),
                                         timeout=20))
        stream, _ = self.h30.subscribe(start=S.START_FROM_CURSOR,
                                       sub_id=opened.subscription_id, acked=last)
        with self.assertRaises(grpc.RpcError) as ctx:
            for msg in stream:
                self.assertFalse(msg.HasField("batch"), "a batch across the gap")
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.OUT_OF_RANGE,
                         ctx.exception.details())

    def test_zz_from_the_beginning_never_acked_is_told_its_gap_too(self):
        """A subscription from the beginning is pinned at the oldest change
        kept when it is created: if its changes are pruned before it ever
        acknowledged one, its resume is a resynchronise, not a silent start
        after the gap."""
        stream, opened = self.h30.subscribe(start=S.START_FROM_BEGINNING)
        stream.cancel()  # nothing read, nothing acknowledged
        self.insert("079000000995", "Lý Văn Năm")
        self.sql("UPDATE registry.citizens_outbox SET committed_at = now() - "
                 "interval '169 hours'")
        self.restart_adapter()  # a new adapter prunes at its first feed
        next(self.adapter_stub().Changes(S.ChangesRequest(dataset_id=DATASET, from_end=True),
                                         timeout=20))
        stream, _ = self.h30.subscribe(start=S.START_FROM_CURSOR,
                                       sub_id=opened.subscription_id, acked=0)
        with self.assertRaises(grpc.RpcError) as ctx:
            for msg in stream:
                self.assertFalse(msg.HasField("batch"), "a batch across the gap")
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.OUT_OF_RANGE,
                         ctx.exception.details())


if __name__ == "__main__":
    unittest.main()
