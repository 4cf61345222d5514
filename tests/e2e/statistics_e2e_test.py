"""End-to-end test of the signed statistics reports (Circular 12/2025/
TT-BKHCN, issue 28 item 3): one deployment whose gateway pushes reports to
a local HTTPS endpoint (Python http.server with TLS from the dev PKI) that
refuses the first two pushes. A few exchanges, allowed and refused; then
the day's report (dxctl report) equals the counts an independent script
here recomputes from the records (read with the Audit service), its tree
head is one the log has and verifies with openssl, the report's own
signature verifies with openssl, and the push was retried and recorded."""
import base64
import csv
import datetime
import io
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
import rfc6962  # noqa: E402
from dx.v1 import audit_pb2, audit_pb2_grpc, reports_pb2  # noqa: E402
from tests.harness import DevEnv  # noqa: E402

H30, H29 = "000.00.00.H30", "000.00.00.H29"
VIETNAM = datetime.timezone(datetime.timedelta(hours=7))
PREFIX = b"dxgate statistics report v1\n"


def bucket_floor(v):
    """The report's latency histogram bucket (audit/statistics.h), again."""
    v = max(v, 0)
    if v < 1024:
        return v
    e = v.bit_length() - 1
    return (v >> (e - 7)) << (e - 7)


def nearest_rank(values, q):
    values = sorted(values)
    if not values:
        return 0
    rank = max(1, -(-round(q * 1000) * len(values) // 1000))  # ceil(q * n), q in 1/1000
    return values[rank - 1]


def recount(records, frm, to, tree_size):
    """The report's counts, computed here from the records alone."""
    def group():
        return {}
    totals = {"total": 0, "allowed": 0, "denied": 0, "errors": 0}
    by = {"provider": group(), "consumer": group(), "dataset": group()}
    latencies = []
    for sr in records:
        r = sr.record
        if sr.sequence_number >= tree_size or not frm <= r.time_unix_micros < to:
            continue
        if r.kind not in (audit_pb2.RECORD_KIND_EXCHANGE, audit_pb2.RECORD_KIND_STREAM_END):
            continue
        verified = r.identity_verified or r.decision == audit_pb2.DECISION_ALLOW
        keys = {"provider": r.provider_agency,
                "consumer": r.consumer_agency if verified else "(unverified)",
                "dataset": r.dataset_id if verified else "(unverified)"}
        col = {audit_pb2.DECISION_ALLOW: "allowed", audit_pb2.DECISION_DENY: "denied",
               audit_pb2.DECISION_ERROR: "errors"}.get(r.decision)
        for name, key in keys.items():
            row = by[name].setdefault(key, {"total": 0, "allowed": 0, "denied": 0, "errors": 0})
            row["total"] += 1
            if col:
                row[col] += 1
        totals["total"] += 1
        if col:
            totals[col] += 1
        if r.total_micros > 0:
            latencies.append(r.total_micros)
    return totals, by, latencies


class FlakyFeed(BaseHTTPRequestHandler):
    """The national system's endpoint: refuses the first two pushes."""
    lock = threading.Lock()
    seen = 0
    bodies = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with FlakyFeed.lock:
            FlakyFeed.seen += 1
            fail = FlakyFeed.seen <= 2
            if not fail:
                FlakyFeed.bodies.append(body)
        self.send_response(503 if fail else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class StatisticsReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-stats-")
        root = cls.tmp.name
        # The PKI first: the endpoint serves the dev PKI's gateway TLS pair.
        env = DevEnv(root, BUILD, population=200, business=50).setup()
        cls.feed = ThreadingHTTPServer(("127.0.0.1", 0), FlakyFeed)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(env.pki, "gateway", "tls.pem"),
                            os.path.join(env.pki, "gateway", "tls.key"))
        cls.feed.socket = ctx.wrap_socket(cls.feed.socket, server_side=True)
        threading.Thread(target=cls.feed.serve_forever, daemon=True).start()
        url = f"https://127.0.0.1:{cls.feed.server_address[1]}/feed"
        env.gateway_settings = {"statistics_push": (
            f"{{url: '{url}', ca_file: pki/root-ca.pem, every_seconds: 3600,"
            " initial_backoff_ms: 200, max_attempts: 5}")}
        cls.env = env.start()
        cls.url = url
        # Exchanges: allowed, and refused (no grant; an unknown dataset).
        env.call(H30, "hotich", "bca.population", "civil-registration",
                 "--query", "citizen_id=001000000000")
        env.call(H29, "motcua", "mof.business", "tax-administration", "--max-records", "3")
        env.call(H29, "motcua", "bca.population", "civil-registration",
                 "--query", "citizen_id=001000000000")
        env.call(H30, "hotich", "no.such.dataset", "civil-registration")

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.feed.shutdown()
        cls.tmp.cleanup()

    def channel(self, who="people/auditor1"):
        def read(p):
            with open(os.path.join(self.env.pki, p), "rb") as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(read("root-ca.pem"), read(f"{who}/tls.key"),
                                             read(f"{who}/tls.pem"))
        return grpc.secure_channel(self.env.gateway, creds)

    def report(self, period, date, fmt="json"):
        return self.env.dxctl("report", period, date, "--format", fmt, "--gateway",
                              self.env.gateway, "--pki", self.env.pki, "--person", "auditor1")

    def today(self):
        return datetime.datetime.now(VIETNAM).strftime("%Y-%m-%d")

    def wait_head_holds_everything(self):
        """Waits until a signed tree head holds every record written so far
        (the exchanges of setUpClass among them)."""
        with self.channel() as ch:
            stub = audit_pb2_grpc.AuditStub(ch)
            size = sum(1 for _ in stub.ReadRecords(audit_pb2.ReadRecordsRequest(), timeout=10))
            deadline = time.time() + 30
            while True:
                try:
                    if stub.GetTreeHead(audit_pb2.GetTreeHeadRequest(),
                                        timeout=5).tree_size >= size:
                        return
                except grpc.RpcError as e:  # none yet: made within a second
                    self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND, e)
                self.assertLess(time.time(), deadline, "no tree head holds the exchanges")
                time.sleep(0.2)

    def records(self, size):
        with self.channel() as ch:
            return list(audit_pb2_grpc.AuditStub(ch).ReadRecords(
                audit_pb2.ReadRecordsRequest(from_sequence=0, limit=size), timeout=10))

    def openssl_verify(self, cert_der, data, sig):
        with tempfile.TemporaryDirectory() as d:
            for name, content in (("c.der", cert_der), ("d.bin", data), ("s.der", sig)):
                with open(os.path.join(d, name), "wb") as f:
                    f.write(content)
            subprocess.run(["openssl", "x509", "-inform", "DER", "-in", f"{d}/c.der",
                            "-pubkey", "-noout", "-out", f"{d}/pub.pem"], check=True)
            return subprocess.run(["openssl", "dgst", "-sha256", "-verify", f"{d}/pub.pem",
                                   "-signature", f"{d}/s.der", f"{d}/d.bin"],
                                  capture_output=True, text=True)

    def test_days_report_equals_an_independent_recount_and_verifies(self):
        self.wait_head_holds_everything()
        day = self.today()
        r = self.report("day", day)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        signed = json.loads(r.stdout)
        rep = signed["report"]
        self.assertEqual(rep["utc_offset"], "+07:00")
        self.assertEqual(rep["date"], day)
        frm, to, size = int(rep["from_unix_micros"]), int(rep["to_unix_micros"]), \
            int(rep["tree_size"])
        self.assertEqual(to - frm, 24 * 3600 * 10**6)
        records = self.records(size)
        self.assertEqual([x.sequence_number for x in records], list(range(size)))
        self.assertEqual(datetime.datetime.fromtimestamp(frm / 1e6, VIETNAM).strftime(
            "%Y-%m-%d %H:%M"), f"{day} 00:00")
        # Independent recount from the records the tree head commits to.
        totals, by, latencies = recount(records, frm, to, size)
        self.assertGreaterEqual(totals["allowed"], 2)
        self.assertGreaterEqual(totals["denied"], 2)
        got = rep["totals"]
        for k, v in totals.items():
            self.assertEqual(int(got.get(k, 0)), v, k)
        for name in ("provider", "consumer", "dataset"):
            rows = {x.get("key", ""): {k: int(x.get(k, 0))
                                       for k in ("total", "allowed", "denied", "errors")}
                    for x in rep.get(f"by_{name}", [])}
            self.assertEqual(rows, by[name], name)
        lat = rep["latency"]
        self.assertEqual(int(lat["count"]), len(latencies))
        for q, key in ((0.5, "p50_micros"), (0.95, "p95_micros"), (0.99, "p99_micros")):
            self.assertEqual(int(lat[key]), bucket_floor(nearest_rank(latencies, q)), key)
        self.assertEqual(int(lat["max_micros"]), max(latencies))
        # Availability is measured: the node noted itself up this session.
        av = rep["availability"]
        self.assertEqual(int(av.get("up_minutes", 0)) + int(av.get("down_minutes", 0)) +
                         int(av.get("unmeasured_minutes", 0)), int(av["elapsed_minutes"]))
        self.assertGreaterEqual(int(av.get("starts", 0)), 1)

        # The tree head is one the log has, and verifies with openssl.
        with self.channel() as ch:
            sth = audit_pb2_grpc.AuditStub(ch).GetTreeHead(
                audit_pb2.GetTreeHeadRequest(tree_size=size), timeout=5)
        root = base64.b64decode(rep["root_hash"])
        self.assertEqual(sth.root_hash, root)
        self.assertEqual(sth.signature, base64.b64decode(rep["tree_head_signature"]))
        leaves = [rfc6962.leaf_hash(x.record_bytes) for x in records[:size]]
        self.assertEqual(rfc6962.root(leaves), root)
        tbs = rfc6962.tree_head_signed_bytes(int(rep["tree_head_timestamp_ms"]), size, root)
        v = self.openssl_verify(sth.signer_certificate, tbs, sth.signature)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        # The report's own signature: the prefix and its exact bytes.
        report_bytes = base64.b64decode(signed["report_bytes"])
        self.assertEqual(base64.b64decode(signed["signed_bytes"]), PREFIX + report_bytes)
        cert = base64.b64decode(signed["signer_certificate"])
        v = self.openssl_verify(cert, PREFIX + report_bytes, base64.b64decode(signed["signature"]))
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        parsed = reports_pb2.StatisticsReport.FromString(report_bytes)
        self.assertEqual(parsed.totals.total, totals["total"])
        tampered = bytearray(report_bytes)
        tampered[-1] ^= 1
        v = self.openssl_verify(cert, PREFIX + bytes(tampered),
                                base64.b64decode(signed["signature"]))
        self.assertNotEqual(v.returncode, 0)

        # CSV: one value a row, the same counts, the signed bytes inside.
        c = self.report("day", day, "csv")
        self.assertEqual(c.returncode, 0, c.stderr)
        rows = list(csv.reader(io.StringIO(c.stdout)))
        self.assertEqual(rows[0], ["metric", "key", "value"])
        values = {(m, k): val for m, k, val in rows[1:]}
        self.assertGreaterEqual(int(values[("exchanges_total", "")]), totals["total"])
        # A cell starting "+" is written as text (the formula guard).
        self.assertEqual(values[("utc_offset", "")], "+07:00")
        self.assertTrue(values[("report_bytes_base64", "")])

    def test_a_month_with_no_data_bad_dates_and_who_may_ask(self):
        self.wait_head_holds_everything()
        r = self.report("month", "2026-01")
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = json.loads(r.stdout)["report"]
        self.assertEqual(int(rep.get("totals", {}).get("total", 0)), 0)
        self.assertNotIn("by_consumer", rep)
        av = rep["availability"]
        # Before the node's first heartbeat: unmeasured, not assumed up.
        self.assertEqual(int(av["unmeasured_minutes"]), int(av["elapsed_minutes"]))
        self.assertEqual(int(av.get("up_minutes", 0)), 0)
        for period, bad in (("day", "2026-02-30"), ("day", "2026-12"), ("month", "2026-13"),
                            ("day", "06-12-2026"), ("day", "1999-12-31")):
            r = self.report(period, bad)
            self.assertEqual(r.returncode, 2, (bad, r.stdout, r.stderr))
            self.assertIn("YYYY-MM", r.stderr)
        # The service itself refuses a bad date, a period to come, and
        # anyone but an auditor.
        with self.channel() as ch:
            stub = audit_pb2_grpc.AuditStub(ch)
            for date in ("2026-02-30", "9999-12-31", "2026-12-06'--"):
                with self.assertRaises(grpc.RpcError) as e:
                    stub.StatisticsReport(reports_pb2.StatisticsReportRequest(
                        period=reports_pb2.REPORT_PERIOD_DAY, date=date), timeout=10)
                self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, date)
        for who in ("people/ops1", f"agencies/{H30}"):
            with self.channel(who) as ch:
                with self.assertRaises(grpc.RpcError) as e:
                    audit_pb2_grpc.AuditStub(ch).StatisticsReport(
                        reports_pb2.StatisticsReportRequest(
                            period=reports_pb2.REPORT_PERIOD_DAY, date=self.today()), timeout=10)
                self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED, who)

    def test_a_push_that_fails_twice_is_retried_and_recorded(self):
        day = self.today()
        deadline = time.time() + 60
        while time.time() < deadline:
            with FlakyFeed.lock:
                bodies = list(FlakyFeed.bodies)
            mine = [json.loads(b) for b in bodies if json.loads(b)["report"]["date"] == day]
            if mine:
                break
            time.sleep(0.2)
        self.assertTrue(mine, f"no report of {day} delivered; {FlakyFeed.seen} pushes seen")
        self.assertGreaterEqual(FlakyFeed.seen, 3)
        pushed = mine[0]
        report_bytes = base64.b64decode(pushed["report_bytes"])
        v = self.openssl_verify(base64.b64decode(pushed["signer_certificate"]),
                                PREFIX + report_bytes, base64.b64decode(pushed["signature"]))
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        # Each attempt is an admin record: two failures, then delivered.
        deadline = time.time() + 30
        while True:
            with self.channel() as ch:
                recs = [x.record for x in audit_pb2_grpc.AuditStub(ch).ReadRecords(
                    audit_pb2.ReadRecordsRequest(), timeout=10)]
            details = [r for r in recs if r.kind == audit_pb2.RECORD_KIND_ADMIN and
                       r.admin_action.startswith("statistics.push")]
            if any("delivered" in r.message for r in details) or time.time() > deadline:
                break
            time.sleep(0.2)
        text = [r.message + " " + r.admin_action for r in details]
        mine = [t for t in text if f"day {day} to {self.url}" in t]
        self.assertTrue(any("attempt 1 of 5 failed: HTTP 503" in t for t in mine), text)
        self.assertTrue(any("attempt 2 of 5 failed: HTTP 503" in t for t in mine), text)
        self.assertTrue(any("attempt 3 of 5: delivered" in t for t in mine), text)


if __name__ == "__main__":
    unittest.main()
