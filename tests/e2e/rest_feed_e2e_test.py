"""The REST adapter's change feed (issue 26, item 4) end to end: the test's
own provider HTTP server with a change endpoint that follows the
convention of docs/ADAPTERS.md (`GET /changes?after=<position>&limit=<n>`,
410 Gone for a position it no longer keeps), a real dx-rest-adapter and
dxgate over loopback mutual TLS, and a subscribed consumer. Each signed
batch is checked with the openssl CLI and the chain by the subscription
tests' independent checker. Waits are bounded by heartbeats, never by
wall time."""
import json
import os
import sys
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from dx.v1 import adapter_pb2_grpc, errors_pb2, subscription_pb2  # noqa: E402
from grpc_status import detail_of  # noqa: E402
from tests.harness import DevEnv  # noqa: E402
from tests.harness.dev_env import test_dataset_entry  # noqa: E402
import subscription_e2e_test as sub  # noqa: E402  (a module: its tests are not re-run)
from subscription_e2e_test import Subscriber, check_chain, read_events  # noqa: E402

S = subscription_pb2
G01 = "000.00.00.G01"
DATASET = "test.rest_feed"
GARBAGE = "test.rest_feed_garbage"
STATUS = "test.rest_feed_status"  # called on the adapter directly
FIELDS = ["tax_code", "name", "status"]
H29_GRANT = """
      - {id: rest-feed-active, consumers: [000.00.00.H29], purposes: [testing],
         fields: [tax_code, name, status], modes: [subscription],
         row_filter: "status == '1'", legal_basis: tests}"""
POLICY = "".join(f"""
  - dataset: {d}
    grants:
      - {{id: {d.replace(".", "-")}, consumers: [000.00.00.H30], purposes: [testing],
         fields: [tax_code, name], modes: [subscription], legal_basis: tests}}""" + (
    H29_GRANT if d == DATASET else "") for d in (DATASET, GARBAGE)) + "\n"


class Provider(BaseHTTPRequestHandler):
    """The provider's change endpoint: positions are decimal strings; the
    changes up to `server.pruned` are gone (410 for a position below)."""
    def log_message(self, *args):
        pass

    def send(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        q = parse_qs(url.query, keep_blank_values=True)
        after, limit = q.get("after", [""])[0], int(q.get("limit", ["100"])[0])
        s = self.server
        with s.lock:
            s.requests.append((url.path, after, limit))
            end = s.changes[-1][0] if s.changes else s.pruned
            bounds = {"start": str(s.pruned), "end": str(end)}
            if url.path == "/garbage" and limit > 0:
                return self.send(200, b"<html>maintenance {")
            if url.path == "/status":  # whatever the test set
                code, body = s.status
                return self.send(code, body)
            if after and int(after) < s.pruned:
                return self.send(410, {"error": "gone"})
            start = int(after) if after else s.pruned
            page = [c for p, c in s.changes if p > start][:limit]
        return self.send(200, {"changes": page, **bounds})


def serve():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    server.lock = threading.Lock()
    server.changes = []  # (position, change), oldest first
    server.pruned = 0
    server.requests = []  # (path, after, limit)
    server.status = (200, {"changes": []})  # what /status answers
    server.handle_error = lambda request, address: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class RestFeedEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-restfeed-")
        cls.provider = serve()
        cls.env = DevEnv(cls.tmp.name, BUILD, population=10, business=10,
                         gateway_settings={"subscriptions": "{heartbeat_seconds: 1, "
                                                            "max_unacked_batches: 4}"})
        try:
            cls.env.setup()
            base = f"http://127.0.0.1:{cls.provider.server_address[1]}"
            datasets = "".join(f"""
  - dataset_id: {d}
    url: {base}/lookup/{{tax_code}}
    query_keys: [{{key: tax_code, required: true}}]
    records_pointer: /data
    fields:
      - {{name: tax_code, pointer: /mst}}
      - {{name: name, pointer: /ten_nnt}}
      - {{name: status, pointer: /trang_thai}}
    max_response_bytes: 65536
    change_feed: {{url: "{base}/{path}", poll_millis: 100}}""" for d, path in (
                (DATASET, "changes"), (GARBAGE, "garbage"), (STATUS, "status")))
            datasets += f"""
  - dataset_id: test.rest_nofeed
    url: {base}/lookup/x
    fields: [{{name: tax_code, pointer: /mst}}]
"""
            cls.port = cls.env.start_custom_adapter("restfeed", "dx-rest-adapter", G01,
                                                    "datasets:" + datasets)
            cls.env.start_gateway(
                test_dataset_entry(DATASET, FIELDS, 3000, cls.port, G01)
                + test_dataset_entry(GARBAGE, FIELDS, 3000, cls.port, G01), POLICY)
            cls.h30 = Subscriber(cls.env, dataset=DATASET)
        except Exception:
            cls.env.close()
            cls.provider.shutdown()
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.h30.close()
        cls.env.close()
        cls.provider.shutdown()
        cls.tmp.cleanup()

    # ------------------------------------------------------------ helpers --
    def change(self, key, kind, previous=None, **values):
        """Appends a change at the provider; returns its position."""
        p = self.provider
        with p.lock:
            pos = (p.changes[-1][0] if p.changes else p.pruned) + 1
            c = {"position": str(pos), "key": key, "kind": kind,
                 "commit_time": "2026-12-07T06:00:00.25Z"}
            if kind != "delete":
                c["values"] = {"mst": key, "internal": "never read", **values}
            if previous is not None:
                c["previous"] = previous
            p.changes.append((pos, c))
        return pos

    def openssl_verifies(self, signed):
        return sub.SubscriptionEndToEndTest.openssl_verifies(self, signed)

    @staticmethod
    def events_of(batches):
        return [e for b in batches for e in S.EventBatch.FromString(b.envelope).events]

    def adapter_stub(self):
        """The adapter called directly, as the gateway calls it."""
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
        try:
            self.change("0101000001", "insert", ten_nnt="Công ty Ánh Dương", trang_thai="1")
            self.change("0101000001", "update", ten_nnt="Công ty Ánh Dương Mới",
                        previous={"mst": "0101000001", "ten_nnt": "Công ty Ánh Dương"})
            self.change("0101000001", "delete")
            batches = read_events(stream, 3, max_heartbeats=20)
        finally:
            stream.cancel()
        for b in batches:
            self.assertTrue(self.openssl_verifies(b), "openssl does not verify a batch")
        _, last = check_chain(opened.chain_head_sha256, 0, batches)
        self.assertEqual(last, 3)
        events = self.events_of(batches)
        self.assertEqual([e.kind for e in events],
                         [S.CHANGE_KIND_INSERT, S.CHANGE_KIND_UPDATE, S.CHANGE_KIND_DELETE])
        self.assertEqual({e.key for e in events}, {"0101000001"})
        # The granted fields, read with the dataset's field pointers.
        columns = list(S.EventBatch.FromString(batches[0].envelope).columns)
        self.assertEqual(columns, ["tax_code", "name"])
        self.assertEqual(list(events[0].values.values), ["0101000001", "Công ty Ánh Dương"])
        self.assertEqual(events[1].values.values[1], "Công ty Ánh Dương Mới")
        self.assertEqual(len(events[2].values.values), 0)
        self.assertEqual(events[0].commit_time.seconds % 86400, 6 * 3600)  # the provider's
        raw = b"".join(b.envelope for b in batches)
        self.assertNotIn(b"never read", raw)

    def test_previous_tells_a_row_filter_what_leaves_it_and_what_is_deleted(self):
        """The provider's `previous` (and a delete's record as it was) let
        the gateway decide a row filter on the record before the change,
        and it sends neither's values."""
        h29 = Subscriber(self.env, "000.00.00.H29", dataset=DATASET)
        self.addCleanup(h29.close)
        stream, opened = h29.subscribe(system="motcua")
        try:
            self.change("0101000201", "insert", ten_nnt="An", trang_thai="1")
            self.change("0101000201", "update", ten_nnt="An", trang_thai="2",
                        previous={"mst": "0101000201", "trang_thai": "1"})
            self.change("0101000202", "insert", ten_nnt="Bé", trang_thai="2")
            self.change("0101000202", "delete", previous={"mst": "0101000202",
                                                          "trang_thai": "2"})
            self.change("0101000203", "insert", ten_nnt="Cư", trang_thai="1")
            self.change("0101000203", "delete", previous={"mst": "0101000203",
                                                          "trang_thai": "1"})
            batches = read_events(stream, 4, max_heartbeats=20)
        finally:
            stream.cancel()
        check_chain(opened.chain_head_sha256, 0, batches)
        events = self.events_of(batches)
        self.assertEqual([(e.key, S.ChangeKind.Name(e.kind)) for e in events],
                         [("0101000201", "CHANGE_KIND_INSERT"),
                          ("0101000201", "CHANGE_KIND_LEFT_VIEW"),
                          ("0101000203", "CHANGE_KIND_INSERT"),
                          ("0101000203", "CHANGE_KIND_DELETE")])
        self.assertEqual([len(e.values.values) for e in events], [3, 0, 3, 0])
        raw = b"".join(b.envelope for b in batches)
        self.assertNotIn(b"0101000202", raw)  # never in its rows: never named

    def test_a_resume_after_an_ack_asks_the_provider_after_that_position(self):
        stream, opened = self.h30.subscribe()
        sub_id = opened.subscription_id
        try:
            acked_pos = self.change("0101000002", "insert", ten_nnt="Hai")
            batches = read_events(stream, 1, max_heartbeats=20)
        finally:
            stream.cancel()
        head, last = check_chain(opened.chain_head_sha256, 0, batches)
        self.h30.ack(sub_id, last)
        self.change("0101000003", "insert", ten_nnt="Ba")
        self.change("0101000003", "update", ten_nnt="Bốn")
        with self.provider.lock:
            seen = len(self.provider.requests)
        stream, opened = self.h30.subscribe(start=S.START_FROM_CURSOR, sub_id=sub_id,
                                            acked=last)
        try:
            self.assertEqual(opened.chain_head_sha256, head)
            batches = read_events(stream, 2, max_heartbeats=20)
        finally:
            stream.cancel()
        _, last2 = check_chain(head, last, batches)
        self.assertEqual([(e.sequence, e.key, e.kind, e.values.values[1])
                          for e in self.events_of(batches)],
                         [(last + 1, "0101000003", S.CHANGE_KIND_INSERT, "Ba"),
                          (last + 2, "0101000003", S.CHANGE_KIND_UPDATE, "Bốn")])
        with self.provider.lock:
            resumed = [r for r in self.provider.requests[seen:]
                       if r[0] == "/changes" and r[2] > 0]
        # The resumed feed's first page is asked after the acknowledged
        # change's position, not from the start or the end.
        self.assertTrue(resumed, "the provider saw no page request")
        self.assertEqual(resumed[0][1], str(acked_pos))

    def test_position_only_answers_where_a_feed_starts(self):
        self.change("0101000004", "insert", ten_nnt="Năm")
        with self.provider.lock:
            start, end = str(self.provider.pruned), str(self.provider.changes[-1][0])
        stub = self.adapter_stub()
        for from_end, want in ((True, end), (False, start)):
            answers = list(stub.Changes(S.ChangesRequest(
                dataset_id=DATASET, from_end=from_end, position_only=True), timeout=20))
            self.assertEqual(len(answers), 1)
            self.assertEqual(len(answers[0].changes), 0)
            self.assertEqual(answers[0].end_position, want, f"from_end={from_end}")
        # A snapshot is not something this adapter takes: the gateway
        # refuses START_FROM_SNAPSHOT on it.
        with self.assertRaises(grpc.RpcError) as ctx:
            list(stub.Changes(S.ChangesRequest(dataset_id=DATASET, snapshot_first=True,
                                               position_only=True), timeout=20))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("takes no snapshot", ctx.exception.details())
        # From the oldest kept, the feed reads every change after the start.
        feed = stub.Changes(S.ChangesRequest(dataset_id=DATASET, fields=["tax_code"],
                                             max_changes=2), timeout=20)
        try:
            first = next(feed)
            self.assertEqual(len(first.changes), 2)  # max_changes
            self.assertEqual(first.changes[0].position, str(int(start) + 1))
            self.assertEqual(list(first.columns), ["tax_code"])
        finally:
            feed.cancel()

    def test_a_provider_answering_garbage_ends_the_feed_with_a_clear_status(self):
        h30 = Subscriber(self.env, dataset=GARBAGE)
        self.addCleanup(h30.close)
        stream, _ = h30.subscribe()
        with self.assertRaises(grpc.RpcError) as ctx:
            for msg in stream:
                self.assertFalse(msg.HasField("batch"), "a batch out of garbage")
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE,
                         ctx.exception.details())
        self.assertEqual(errors_pb2.ReasonCode.Name(detail_of(ctx.exception).reason),
                         "REASON_ADAPTER_ERROR")
        self.assertIn(f"dataset '{GARBAGE}'", ctx.exception.details())
        self.assertIn("breaks the feed's convention", ctx.exception.details())
        self.assertIn("not JSON", ctx.exception.details())

    def test_the_endpoints_statuses_become_the_feeds(self):
        """Transport-like failures are UNAVAILABLE (the gateway resumes);
        an answer that breaks the contract is FAILED_PRECONDITION; each
        names the dataset and what the endpoint did."""
        stub = self.adapter_stub()
        cases = [
            ((503, {"error": "down"}), grpc.StatusCode.UNAVAILABLE, "failed (503"),
            ((429, {}), grpc.StatusCode.UNAVAILABLE, "failed (429"),
            ((401, {}), grpc.StatusCode.FAILED_PRECONDITION, "check the dataset's headers"),
            ((404, {}), grpc.StatusCode.FAILED_PRECONDITION, "answered 404"),
            ((302, b""), grpc.StatusCode.FAILED_PRECONDITION, "redirects are not followed"),
            ((200, {"changes": [], "pad": "x" * 70000}), grpc.StatusCode.FAILED_PRECONDITION,
             "larger than 65536 bytes"),
            ((200, {"changes": [{"position": "1", "key": "k", "kind": "upsert",
                                 "values": {}, "commit_time": "2026-12-07T06:00:00Z"}]}),
             grpc.StatusCode.FAILED_PRECONDITION, "change 0 (position '1'): \"kind\" 'upsert'"),
            ((200, {"changes": [{"position": "1", "key": "k", "kind": "insert",
                                 "commit_time": "2026-12-07T06:00:00Z"}]}),
             grpc.StatusCode.FAILED_PRECONDITION, "\"values\" (/values) must be an object"),
        ]
        for status, code, says in cases:
            with self.subTest(status=status[0], says=says):
                with self.provider.lock:
                    self.provider.status = status
                with self.assertRaises(grpc.RpcError) as ctx:
                    list(stub.Changes(S.ChangesRequest(dataset_id=STATUS, after_position="0"),
                                      timeout=20))
                self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
                self.assertIn(f"dataset '{STATUS}'", ctx.exception.details())
                self.assertIn(says, ctx.exception.details())
        # A dataset without a change_feed says how to get one.
        with self.assertRaises(grpc.RpcError) as ctx:
            list(stub.Changes(S.ChangesRequest(dataset_id="test.rest_nofeed"), timeout=20))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assertIn("give it a change_feed", ctx.exception.details())

    def test_zz_a_410_from_the_provider_tells_the_consumer_to_resynchronise(self):
        stream, opened = self.h30.subscribe()
        try:
            self.change("0101000009", "insert", ten_nnt="Chín")
            head, last = check_chain(opened.chain_head_sha256, 0,
                                     read_events(stream, 1, max_heartbeats=20))
        finally:
            stream.cancel()
        self.h30.ack(opened.subscription_id, last)
        self.change("0101000010", "insert", ten_nnt="Mười")
        with self.provider.lock:  # the provider drops everything it had
            self.provider.pruned = self.provider.changes[-1][0]
            self.provider.changes.clear()
        stream, _ = self.h30.subscribe(start=S.START_FROM_CURSOR,
                                       sub_id=opened.subscription_id, acked=last)
        ended = None
        with self.assertRaises(grpc.RpcError) as ctx:
            for msg in stream:
                self.assertFalse(msg.HasField("batch"), "a batch across the gap")
                if msg.HasField("ended"):
                    ended = msg.ended
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.OUT_OF_RANGE,
                         ctx.exception.details())
        self.assertEqual(errors_pb2.ReasonCode.Name(detail_of(ctx.exception).reason),
                         "REASON_SUBSCRIPTION_RESYNC")
        self.assertIn("410 Gone", ctx.exception.details())
        self.assertIsNotNone(ended, "no signed final message")
        self.assertTrue(self.openssl_verifies(ended))
        self.assertEqual(errors_pb2.ReasonCode.Name(S.SubscriptionEnded.FromString(
            ended.envelope).reason), "REASON_SUBSCRIPTION_RESYNC")


if __name__ == "__main__":
    unittest.main()
