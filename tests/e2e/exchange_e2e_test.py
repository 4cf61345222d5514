"""End-to-end tests of the exchange path: dxgate, two dx-file-adapters and
dxctl as real processes over loopback mutual TLS, with a dev PKI made at test
time. Run by ctest (make test); DX_BUILD_DIR names the build folder."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
from tests.harness import DevEnv  # noqa: E402

BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
H30, H29 = "000.00.00.H30", "000.00.00.H29"

# A dataset whose adapter accepts connections and never answers.
SLOW_DATASET = """
  - id: test.slow
    name: An adapter that never answers (tests)
    provider_agency: 000.00.00.G01
    category: shared
    restriction_legal_basis: none
    adapter: {{address: "127.0.0.1:{port}", tls_server_name: localhost, timeout_ms: 700}}
    fields: [{{name: x}}]
"""
SLOW_POLICY = """
  - dataset: test.slow
    grants:
      - {id: slow, consumers: [000.00.00.H30], purposes: [testing], legal_basis: tests}
"""


def request_id(out):
    m = re.search(r"^request (\S+):", out, re.M)
    return m.group(1) if m else None


class ExchangeEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-e2e-")
        # A listener whose backlog takes connections nobody ever serves.
        cls.black_hole = socket.socket()
        cls.black_hole.bind(("127.0.0.1", 0))
        cls.black_hole.listen(16)
        cls.env = DevEnv(cls.tmp.name, BUILD, population=100_000, business=2000)
        cls.env.setup()
        for agency in ("000.00.00.G01", "000.00.00.G12"):
            cls.env.start_adapter(agency)
        cls.env.start_gateway(SLOW_DATASET.format(port=cls.black_hole.getsockname()[1]),
                              SLOW_POLICY)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.black_hole.close()
        cls.tmp.cleanup()

    # ------------------------------------------------------------ helpers --
    def call(self, *extra, agency=H30, system="hotich", dataset="bca.population",
             purpose="civil-registration"):
        return self.env.call(agency, system, dataset, purpose, *extra)

    def audit_for(self, out):
        rid = request_id(out)
        self.assertIsNotNone(rid, out)
        return [r for r in self.env.audit_records() if r.get("request_id") == rid]

    def assert_refused(self, result, code, reason):
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn(f"REFUSED  {code}:", result.stdout)
        if reason:
            self.assertIn(f"reason:       {reason}", result.stdout)

    def assert_still_serving(self):
        ok = self.call("--query", "citizen_id=001000000000", "--quiet")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)

    def pki(self, rel):
        return os.path.join(self.env.pki, rel)

    # -------------------------------------------------------------- tests --
    def test_allowed_call_is_signed_filtered_and_audited(self):
        r = self.call("--query", "citizen_id=001000000000")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ALLOWED  1 record(s)", r.stdout)
        self.assertIn("gateway signature OK", r.stdout)
        self.assertNotIn("ethnicity", r.stdout)  # not granted, never returned
        records = self.audit_for(r.stdout)
        self.assertEqual(len(records), 1)
        rec = records[0]
        self.assertEqual(rec["decision"], "DECISION_ALLOW")
        self.assertEqual(rec["consumer_agency"], H30)
        self.assertEqual(rec["tls_agency"], H30)
        self.assertEqual(rec["record_count"], "1")
        self.assertEqual(rec["policy_rule_id"], "h30-civil-registration")
        receipt = re.search(r"audit record: #(\d+)", r.stdout).group(1)
        self.assertEqual(rec.get("sequence_number", "0"), receipt)

    def test_openssl_cli_verifies_both_signatures(self):
        with tempfile.TemporaryDirectory() as d:
            r = self.call("--query", "citizen_id=001000000000", "--save-dir", d)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            for side in ("request", "response"):
                v = subprocess.run(
                    ["openssl", "dgst", "-sha256", "-verify", f"{d}/{side}.pub.pem",
                     "-signature", f"{d}/{side}.sig.der", f"{d}/{side}.envelope.bin"],
                    capture_output=True, text=True)
                self.assertEqual(v.stdout.strip(), "Verified OK", side + v.stderr)
            # The gateway's signing certificate chains to the national root.
            v = subprocess.run(["openssl", "verify", "-CAfile", self.pki("root-ca.pem"),
                                "-untrusted", self.pki("intermediate-ca.pem"),
                                f"{d}/response.signer.pem"], capture_output=True, text=True)
            self.assertIn(": OK", v.stdout, v.stderr)
            # A changed byte no longer verifies.
            with open(f"{d}/response.envelope.bin", "r+b") as f:
                b = f.read(1)
                f.seek(0)
                f.write(bytes([b[0] ^ 1]))
            v = subprocess.run(
                ["openssl", "dgst", "-sha256", "-verify", f"{d}/response.pub.pem",
                 "-signature", f"{d}/response.sig.der", f"{d}/response.envelope.bin"],
                capture_output=True, text=True)
            self.assertNotEqual(v.returncode, 0)

    def test_policy_refusal_cites_legal_basis_and_is_audited(self):
        r = self.call("--field", "full_name", "--field", "address")
        self.assert_refused(r, "PERMISSION_DENIED", "REASON_POLICY_DENIED")
        self.assertIn("legal basis:  Law on Data 2024 Art. 18", r.stdout)
        self.assertIn("policy rule:  h30-civil-registration", r.stdout)
        recs = self.audit_for(r.stdout)
        self.assertEqual(len(recs), 1)
        self.assertEqual(recs[0]["decision"], "DECISION_DENY")
        self.assertEqual(recs[0]["reason"], "REASON_POLICY_DENIED")
        self.assertEqual(recs[0]["requested_fields"], ["full_name", "address"])

    def test_a_refusal_speaks_vietnamese_and_english(self):
        """A refusal carries a google.rpc.LocalizedMessage in vi-VN and one in
        en beside today's message, with the legal basis and the rule put in;
        dxctl under a Vietnamese locale leads with the Vietnamese one, and
        under any other prints what it always printed."""
        sys.path.insert(0, os.path.join(BUILD, "python"))
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import grpc
        from consumer import Consumer
        from grpc_status import detail_of, localized_of
        h30 = Consumer(self.env)
        try:
            with self.assertRaises(grpc.RpcError) as refused:
                h30.call(fields=["full_name", "address"])
        finally:
            h30.close()
        err = refused.exception
        self.assertEqual(err.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("address", err.details())  # today's message, unchanged
        detail = detail_of(err)
        self.assertEqual(detail.reason, 14)  # REASON_POLICY_DENIED
        self.assertTrue(detail.legal_basis.startswith("Law on Data 2024 Art. 18"))
        self.assertEqual(detail.policy_rule_id, "h30-civil-registration")
        self.assertEqual(localized_of(err), [
            ("vi-VN", "Chính sách chia sẻ dữ liệu không cho phép yêu cầu này. "
                      f"Căn cứ pháp lý: {detail.legal_basis}. "
                      "Quy tắc: h30-civil-registration."),
            ("en", "The sharing policy does not allow this request. "
                   f"Legal basis: {detail.legal_basis}. Rule: h30-civil-registration."),
        ])
        args = [self.env.bin("dxctl"), "call", "--gateway", self.env.gateway, "--pki",
                self.env.pki, "--agency", H30, "--system", "hotich", "--dataset",
                "bca.population", "--purpose", "civil-registration", "--field", "full_name",
                "--field", "address"]
        for env, first in (({"LANG": "vi_VN.UTF-8"}, "TỪ CHỐI  PERMISSION_DENIED: Chính sách "
                             "chia sẻ dữ liệu không cho phép yêu cầu này."),
                           ({"LANG": "vi_VN.UTF-8", "LC_ALL": "C.UTF-8"},
                            "REFUSED  PERMISSION_DENIED: "),
                           ({"LANG": "en_US.UTF-8"}, "REFUSED  PERMISSION_DENIED: ")):
            with self.subTest(env=env):
                clean = {k: v for k, v in os.environ.items()
                         if k not in ("LANG", "LC_ALL", "LC_MESSAGES")}
                r = subprocess.run(args, capture_output=True, text=True, timeout=60,
                                   env={**clean, **env})
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn(first, r.stdout)
                if "TỪ CHỐI" in first:
                    self.assertIn("  lý do:        REASON_POLICY_DENIED", r.stdout)
                    self.assertIn("  căn cứ pháp lý: Law on Data 2024 Art. 18", r.stdout)
                    self.assertIn("  thông báo gốc: ", r.stdout)
                else:
                    self.assertIn("reason:       REASON_POLICY_DENIED", r.stdout)
                    self.assertNotIn("lý do", r.stdout)
        # A top-level error in each language.
        for env, text in (({"LANG": "vi_VN.UTF-8"}, "không có lệnh 'cal'"),
                          ({"LANG": "C.UTF-8"}, "unknown command 'cal'")):
            r = subprocess.run([self.env.bin("dxctl"), "cal"], capture_output=True, text=True,
                               timeout=60, env={**os.environ, "LC_ALL": "", **env})
            self.assertEqual(r.returncode, 2)
            self.assertIn(text, r.stderr)

    def test_agency_without_grant_is_refused(self):
        # The Ministry of Finance has no grant at all on the population data.
        r = self.call(agency="000.00.00.G12", system="dkkd")
        self.assert_refused(r, "PERMISSION_DENIED", "REASON_POLICY_DENIED")
        self.assertIn("no sharing grant", r.stdout)
        self.assertIn("policy rule:  default:deny", r.stdout)

    def test_unknown_dataset_field_and_system(self):
        r = self.call(dataset="bca.nothing")
        self.assert_refused(r, "NOT_FOUND", "REASON_UNKNOWN_DATASET")
        r = self.call("--field", "salary")
        self.assert_refused(r, "INVALID_ARGUMENT", "REASON_UNKNOWN_FIELD")
        r = self.call("--field", "x'; DROP TABLE--")
        self.assert_refused(r, "INVALID_ARGUMENT", "REASON_UNKNOWN_FIELD")
        self.assertIn("DROP TABLE", r.stdout)  # echoed escaped, not executed
        r = self.call(system="unregistered")
        self.assert_refused(r, "PERMISSION_DENIED", "REASON_UNKNOWN_CONSUMER")
        self.assertEqual(self.audit_for(r.stdout)[0]["decision"], "DECISION_DENY")

    def test_tls_agency_must_be_the_envelope_consumer(self):
        r = self.call("--envelope-agency", H29)
        self.assert_refused(r, "UNAUTHENTICATED", "REASON_IDENTITY_MISMATCH")
        self.assertEqual(self.audit_for(r.stdout)[0]["tls_agency"], H30)

    def test_signer_of_another_agency_is_refused(self):
        r = self.call("--sign-cert", self.pki(f"agencies/{H29}/sign.pem"),
                      "--sign-key", self.pki(f"agencies/{H29}/sign.key"))
        self.assert_refused(r, "UNAUTHENTICATED", "REASON_IDENTITY_MISMATCH")

    def test_tampered_envelope_and_signature_are_refused(self):
        for what in ("envelope", "signature"):
            r = self.call("--tamper", what)
            self.assert_refused(r, "UNAUTHENTICATED", "REASON_BAD_SIGNATURE")
        self.assert_still_serving()

    def test_replay_is_refused_and_audited(self):
        with tempfile.TemporaryDirectory() as d:
            first = self.call("--query", "citizen_id=001000000000", "--save-dir", d)
            self.assertEqual(first.returncode, 0, first.stdout)
            again = self.env.dxctl("call", "--gateway", self.env.gateway, "--pki",
                                   self.env.pki, "--agency", H30, "--resend",
                                   f"{d}/request.pb")
            self.assert_refused(again, "FAILED_PRECONDITION", "REASON_REPLAY")
            decisions = [r["decision"] for r in self.audit_for(first.stdout)]
            self.assertEqual(decisions, ["DECISION_ALLOW", "DECISION_DENY"])

    def test_reused_nonce_with_new_id_is_refused(self):
        nonce = os.urandom(16).hex()
        ok = self.call("--nonce-hex", nonce, "--quiet")
        self.assertEqual(ok.returncode, 0, ok.stdout)
        r = self.call("--nonce-hex", nonce)
        self.assert_refused(r, "FAILED_PRECONDITION", "REASON_REPLAY")

    def test_stale_future_and_expired_requests(self):
        r = self.call("--issued-offset-s", "-600")
        self.assert_refused(r, "FAILED_PRECONDITION", "REASON_STALE_REQUEST")
        self.assertIn("NTP", r.stdout)
        r = self.call("--issued-offset-s", "600")
        self.assert_refused(r, "FAILED_PRECONDITION", "REASON_STALE_REQUEST")
        r = self.call("--issued-offset-s", "-100", "--lifetime-s", "50")
        self.assert_refused(r, "FAILED_PRECONDITION", "REASON_EXPIRED_REQUEST")
        r = self.call("--lifetime-s", "3600")
        self.assert_refused(r, "FAILED_PRECONDITION", "REASON_EXPIRED_REQUEST")

    def test_certificate_from_an_unknown_ca_cannot_connect(self):
        other = os.path.join(self.tmp.name, "other-pki")
        if not os.path.exists(other):
            subprocess.run(["bash", os.path.join(REPO, "certs/make-dev-pki.sh"), "init",
                            other], check=True, stdout=subprocess.DEVNULL)
        d = f"{other}/agencies/{H30}"
        r = self.call("--ca", self.pki("root-ca.pem"), "--cert", f"{d}/tls.pem",
                      "--key", f"{d}/tls.key", "--sign-cert", f"{d}/sign.pem",
                      "--sign-key", f"{d}/sign.key")
        self.assertEqual(r.returncode, 1)
        self.assertIn("REFUSED  UNAVAILABLE", r.stdout)  # TLS handshake refused
        # A signing certificate of an unknown CA over a trusted TLS connection.
        r = self.call("--sign-cert", f"{d}/sign.pem", "--sign-key", f"{d}/sign.key")
        self.assert_refused(r, "UNAUTHENTICATED", "REASON_CERT_UNTRUSTED")
        self.assert_still_serving()

    def test_expired_certificates(self):
        folder = f"expired-{H30}"
        if not os.path.exists(self.pki(f"agencies/{folder}")):
            self.env.pki_cmd("agency", H30, "1", "20200101000000Z", "20200201000000Z",
                             env={"DX_PKI_FOLDER": folder})
        d = self.pki(f"agencies/{folder}")
        r = self.call("--sign-cert", f"{d}/sign.pem", "--sign-key", f"{d}/sign.key")
        self.assert_refused(r, "UNAUTHENTICATED", "REASON_CERT_EXPIRED")
        self.assertIn("renew", r.stdout)
        r = self.call("--cert", f"{d}/tls.pem", "--key", f"{d}/tls.key")
        self.assertIn("REFUSED  UNAVAILABLE", r.stdout)  # TLS handshake refused
        self.assert_still_serving()

    def test_revocation_takes_effect_without_restart(self):
        folder = f"revoked-{H29}"
        self.env.pki_cmd("agency", H29, env={"DX_PKI_FOLDER": folder})
        d = self.pki(f"agencies/{folder}")
        own = ["--cert", f"{d}/tls.pem", "--key", f"{d}/tls.key",
               "--sign-cert", f"{d}/sign.pem", "--sign-key", f"{d}/sign.key"]
        before = self.call(*own, "--quiet", agency=H29, system="motcua",
                           dataset="mof.business", purpose="tax-administration")
        self.assertEqual(before.returncode, 0, before.stdout)
        # Another agency keeps calling at full speed meanwhile.
        load = {}

        def run_load():
            load["json"] = self.env.dxbench("--duration", "5", "--warmup", "0",
                                            "--concurrency", "8")

        loader = threading.Thread(target=run_load)
        loader.start()
        self.env.pki_cmd("revoke", f"{d}/sign.leaf.pem")
        deadline = time.time() + 15
        while time.time() < deadline:
            after = self.call(*own, agency=H29, system="motcua", dataset="mof.business",
                              purpose="tax-administration")
            if after.returncode != 0:
                break
            time.sleep(0.3)
        self.assert_refused(after, "UNAUTHENTICATED", "REASON_CERT_REVOKED")
        self.assertEqual(self.audit_for(after.stdout)[0]["reason"], "REASON_CERT_REVOKED")
        loader.join()
        self.assertEqual(load["json"]["errors"], {})  # others unaffected under load
        self.assertGreater(load["json"]["ok"], 50)
        self.assert_still_serving()

    def test_adapter_down_then_back(self):
        self.env.stop_adapter("000.00.00.G01")
        try:
            r = self.call("--query", "citizen_id=001000000000")
            self.assert_refused(r, "UNAVAILABLE", "REASON_ADAPTER_UNAVAILABLE")
            rec = self.audit_for(r.stdout)[0]
            self.assertEqual(rec["decision"], "DECISION_ERROR")
        finally:
            self.env.start_adapter("000.00.00.G01")
        deadline = time.time() + 15
        while time.time() < deadline:
            r = self.call("--query", "citizen_id=001000000000", "--quiet")
            if r.returncode == 0:
                break
            time.sleep(0.3)
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_adapter_that_never_answers_times_out(self):
        # The gateway's own 700 ms deadline fires (a client-side timeout
        # would carry no ErrorDetail, so the reason check tells them apart).
        r = self.call(dataset="test.slow", purpose="testing")
        self.assert_refused(r, "DEADLINE_EXCEEDED", "REASON_ADAPTER_TIMEOUT")
        self.assertEqual(self.audit_for(r.stdout)[0]["decision"], "DECISION_ERROR")
        self.assert_still_serving()

    def test_stream_of_100000_records_is_complete_and_signed(self):
        r = self.call("--stream", "--quiet", "--timeout-ms", "120000")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ALLOWED  100000 record(s) in 25 batch(es), digest verified",
                      r.stdout)
        kinds = [(x["kind"], x.get("record_count", "0")) for x in self.audit_for(r.stdout)]
        self.assertEqual(kinds, [("RECORD_KIND_STREAM_START", "0"),
                                 ("RECORD_KIND_STREAM_END", "100000")])

    def test_stream_refusal_is_a_status_not_a_partial_stream(self):
        r = self.call("--stream", "--field", "address")
        self.assert_refused(r, "PERMISSION_DENIED", "REASON_POLICY_DENIED")

    def test_stream_honours_max_records(self):
        r = self.call("--stream", "--quiet", "--max-records", "1500")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ALLOWED  1500 record(s)", r.stdout)
        # More matched: the signed final message says so, and why.
        self.assertIn("TRUNCATED  more records matched than this answer holds "
                      "(limit: the request's max_records)", r.stdout)
        # A unary answer cut short says so too; one that holds every match
        # (a look-up by id) does not.
        r = self.call("--quiet", "--max-records", "3")
        self.assertIn("ALLOWED  3 record(s)", r.stdout)
        self.assertIn("TRUNCATED  more records matched", r.stdout)
        r = self.call("--stream", "--quiet")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("TRUNCATED", r.stdout)

    def test_health_and_reflection_over_mutual_tls(self):
        import grpc
        read = lambda p: open(self.pki(p), "rb").read()  # noqa: E731
        creds = grpc.ssl_channel_credentials(read("root-ca.pem"),
                                             read(f"agencies/{H30}/tls.key"),
                                             read(f"agencies/{H30}/tls.pem"))
        with grpc.secure_channel(self.env.gateway, creds) as ch:
            check = ch.unary_unary("/grpc.health.v1.Health/Check")
            # HealthCheckResponse{status: SERVING(1)}
            self.assertEqual(check(b"", timeout=5), b"\x08\x01")
            self.assertEqual(check(b"\x0a\x0edx.v1.Exchange", timeout=5), b"\x08\x01")
            info = ch.stream_stream(
                "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
            # ServerReflectionRequest{list_services: ""}
            replies = b"".join(info(iter([b"\x3a\x00"]), timeout=5))
            self.assertIn(b"dx.v1.Exchange", replies)

    def test_zz_restart_keeps_audit_and_replay_protection(self):
        # Named to run last: it restarts the gateway.
        with tempfile.TemporaryDirectory() as d:
            first = self.call("--query", "citizen_id=001000000000", "--save-dir", d)
            self.assertEqual(first.returncode, 0, first.stdout)
            count = len(self.env.audit_records())
            self.assertEqual(self.env.stop_gateway(signal.SIGTERM), 0)
            self.assertIn("stopped cleanly", self.env.log("gateway"))
            self.env.start_gateway(
                SLOW_DATASET.format(port=self.black_hole.getsockname()[1]), SLOW_POLICY)
            again = self.env.dxctl("call", "--gateway", self.env.gateway, "--pki",
                                   self.env.pki, "--agency", H30, "--resend",
                                   f"{d}/request.pb")
            self.assert_refused(again, "FAILED_PRECONDITION", "REASON_REPLAY")
            records = self.env.audit_records()
            # The restart itself is recorded, then the refused replay.
            self.assertEqual(len(records), count + 2)
            self.assertEqual([int(r.get("sequence_number", 0)) for r in records],
                             list(range(count + 2)))
            self.assertEqual(records[count]["admin_action"], "gateway.start")
            self.assertEqual(records[count + 1]["reason"], "REASON_REPLAY")


if __name__ == "__main__":
    unittest.main()
