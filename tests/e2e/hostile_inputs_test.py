"""Hostile and malformed requests against a live gateway (issue: hostile
inputs). Each case asserts the exact gRPC status, that the message helps the
caller, that the attempt is in the audit log when it reached the gateway's
logic, and that the gateway still serves the next good request."""
import base64
import hashlib
import os
import socket
import sys
import tempfile
import time
import unittest
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from dx.v1 import errors_pb2, exchange_pb2, exchange_pb2_grpc  # noqa: E402
from tests.harness import DevEnv  # noqa: E402
from grpc_status import detail_of  # noqa: E402

H30, H29 = "000.00.00.H30", "000.00.00.H29"


class HostileInputsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-hostile-")
        cls.env = DevEnv(cls.tmp.name, BUILD, population=500, business=50).setup().start()

        def read(p):
            with open(os.path.join(cls.env.pki, p), "rb") as f:
                return f.read()

        cls.read = staticmethod(read)
        cls.channel = grpc.secure_channel(
            cls.env.gateway,
            grpc.ssl_channel_credentials(read("root-ca.pem"), read(f"agencies/{H30}/tls.key"),
                                         read(f"agencies/{H30}/tls.pem")),
            options=[("grpc.max_send_message_length", 8 << 20)])
        cls.stub = exchange_pb2_grpc.ExchangeStub(cls.channel)
        cls.key = serialization.load_pem_private_key(read(f"agencies/{H30}/sign.key"), None)
        cls.cert_der = x509.load_pem_x509_certificate(read(f"agencies/{H30}/sign.pem")) \
            .public_bytes(serialization.Encoding.DER)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.env.close()
        cls.tmp.cleanup()

    # ------------------------------------------------------------ helpers --
    def envelope(self, **over):
        now = time.time()
        env = exchange_pb2.RequestEnvelope(
            request_id=str(uuid.uuid4()), consumer_agency=H30, consumer_system="hotich",
            dataset_id="bca.population", operation=exchange_pb2.OPERATION_READ,
            purpose_code="civil-registration", nonce=os.urandom(16))
        env.query["citizen_id"] = "001000000000"
        env.issued_at.FromNanoseconds(int(now * 1e9))
        env.expires_at.FromNanoseconds(int((now + 60) * 1e9))
        for k, v in over.items():
            if k == "fields":
                env.fields.extend(v)
            elif k == "query":
                env.query.clear()
                env.query.update(v)
            elif v is None:
                env.ClearField(k)
            elif k in ("issued_at", "expires_at"):
                getattr(env, k).FromNanoseconds(int(v * 1e9))
            else:
                setattr(env, k, v)
        return env

    def signed(self, env=None, envelope_bytes=None, signature=None, cert=None):
        data = envelope_bytes if envelope_bytes is not None else env.SerializeToString()
        sig = signature if signature is not None else self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        return exchange_pb2.SignedRequest(envelope=data, signature=sig,
                                          signer_certificate=cert if cert is not None
                                          else self.cert_der)

    def refused(self, request, code, reason=None, hint=None, audited=True):
        audit_before = len(self.env.audit_records())
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.Call(request, timeout=10)
        err = ctx.exception
        self.assertEqual(err.code(), code, err.details())
        detail = detail_of(err)
        if reason is not None:
            self.assertIsNotNone(detail, err.details())
            self.assertEqual(errors_pb2.ReasonCode.Name(detail.reason), reason, err.details())
        if hint:
            self.assertIn(hint, err.details())
        self.assertLess(len(err.details()), 2000)  # bounded, even for huge input
        records = self.env.audit_records()
        if audited:
            self.assertEqual(len(records), audit_before + 1, "the attempt was not audited")
            # Refusals are denials; the adapter's failures are errors.
            expected = ("DECISION_ERROR" if reason and reason.startswith("REASON_ADAPTER")
                        else "DECISION_DENY")
            self.assertEqual(records[-1]["decision"], expected)
            self.assertTrue(detail is None or detail.HasField("receipt"))
            self.assert_names_who_tried(records[-1], request)
        # The gateway still serves a good request.
        ok = self.stub.Call(self.signed(self.envelope()), timeout=10)
        self.assertTrue(ok.envelope)
        return err

    def assert_names_who_tried(self, rec, request, tls_agency=H30):
        """Whatever the refusal, its record says what the gateway read: the
        TLS agency, the envelope's hash and, when it parses, its claims."""
        self.assertEqual(rec.get("tls_agency"), tls_agency, rec)
        self.assertEqual(len(base64.b64decode(rec.get("tls_cert_sha256", ""))), 32, rec)
        self.assertEqual(base64.b64decode(rec.get("request_sha256", "")),
                         hashlib.sha256(request.envelope).digest(), rec)
        try:
            sent = exchange_pb2.RequestEnvelope.FromString(request.envelope)
        except Exception:  # noqa: BLE001 - not an envelope: nothing more to name
            return
        if request.envelope:
            self.assertEqual(rec.get("request_id", ""), sent.request_id, rec)
            self.assertEqual(rec.get("consumer_agency", ""), sent.consumer_agency, rec)

    def stub_as(self, tls_dir):
        channel = grpc.secure_channel(self.env.gateway, grpc.ssl_channel_credentials(
            self.read("root-ca.pem"), self.read(f"{tls_dir}/tls.key"),
            self.read(f"{tls_dir}/tls.pem")))
        self.addCleanup(channel.close)
        return exchange_pb2_grpc.ExchangeStub(channel)

    # -------------------------------------------------------------- cases --
    def test_01_empty_request(self):
        self.refused(exchange_pb2.SignedRequest(), grpc.StatusCode.INVALID_ARGUMENT,
                     "REASON_MALFORMED_REQUEST", "not a serialized")

    def test_02_envelope_of_garbage(self):
        self.refused(self.signed(envelope_bytes=b"\xff\xfe\xfd garbage"),
                     grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST")

    def test_03_truncated_envelope(self):
        data = self.envelope().SerializeToString()
        self.refused(self.signed(envelope_bytes=data[: len(data) // 2]),
                     grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST")

    def test_04_request_over_the_size_limit(self):
        # A little over max_request_bytes (1 MiB here): the gateway's own
        # refusal, with its reason and what to do, and audited.
        env = self.envelope(purpose_code="x" * ((1 << 20) + 1000))
        self.refused(self.signed(env), grpc.StatusCode.RESOURCE_EXHAUSTED,
                     "REASON_REQUEST_TOO_LARGE", "max_request_bytes")
        # Far over (past the 1 MiB of headroom above the limit): gRPC refuses
        # it before any handler, so it holds no more than that in memory.
        env = self.envelope(purpose_code="x" * (3 << 20))
        self.refused(self.signed(env), grpc.StatusCode.RESOURCE_EXHAUSTED, audited=False)

    def test_05_huge_field_list(self):
        self.refused(self.signed(self.envelope(fields=[f"f{i}" for i in range(5000)])),
                     grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST", "too many fields")

    def test_06_field_with_injection_characters(self):
        err = self.refused(self.signed(self.envelope(fields=["name'; DROP TABLE x;--\n\x00"])),
                           grpc.StatusCode.INVALID_ARGUMENT, "REASON_UNKNOWN_FIELD")
        self.assertNotIn("\x00", err.details())  # echoed escaped

    def test_07_unicode_edge_cases_in_field_names(self):
        for name in ["full\u200bname", "\u202efull_name", "ｆｕｌｌ_ｎａｍｅ", "full_name\ufeff"]:
            self.refused(self.signed(self.envelope(fields=[name])),
                         grpc.StatusCode.INVALID_ARGUMENT, "REASON_UNKNOWN_FIELD")

    def test_08_request_id_with_spaces_or_control_characters(self):
        for rid in ["has space", "tab\there", "nul\x00x", "é"]:
            self.refused(self.signed(self.envelope(request_id=rid)),
                         grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST", "request_id")

    def test_09_request_id_too_long(self):
        self.refused(self.signed(self.envelope(request_id="r" * 200)),
                     grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST", "1-128")

    def test_10_nonce_too_short_or_long(self):
        for nonce in [b"", b"short", os.urandom(65)]:
            self.refused(self.signed(self.envelope(nonce=nonce)),
                         grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST", "nonce")

    def test_11_missing_purpose(self):
        self.refused(self.signed(self.envelope(purpose_code="")),
                     grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST", "purpose_code")

    def test_12_unsupported_operation(self):
        self.refused(self.signed(self.envelope(operation=0)),
                     grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST", "operation")
        self.refused(self.signed(self.envelope(operation=77)),
                     grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST", "operation")

    def test_13_unknown_dataset(self):
        self.refused(self.signed(self.envelope(dataset_id="bca.nothing")),
                     grpc.StatusCode.NOT_FOUND, "REASON_UNKNOWN_DATASET", "registry")

    def test_14_huge_dataset_id_is_echoed_bounded(self):
        err = self.refused(self.signed(self.envelope(dataset_id="d" * 100000)),
                           grpc.StatusCode.NOT_FOUND, "REASON_UNKNOWN_DATASET")
        self.assertIn("...", err.details())

    def test_15_unregistered_system(self):
        self.refused(self.signed(self.envelope(consumer_system="rogue")),
                     grpc.StatusCode.PERMISSION_DENIED, "REASON_UNKNOWN_CONSUMER", "not registered")

    def test_16_envelope_claims_another_agency(self):
        self.refused(self.signed(self.envelope(consumer_agency=H29)),
                     grpc.StatusCode.UNAUTHENTICATED, "REASON_IDENTITY_MISMATCH")

    def test_17_signature_of_garbage(self):
        self.refused(self.signed(self.envelope(), signature=b"\x30\x03\x02\x01\x01"),
                     grpc.StatusCode.UNAUTHENTICATED, "REASON_BAD_SIGNATURE")

    def test_18_signature_over_other_bytes(self):
        other = self.key.sign(b"other bytes", ec.ECDSA(hashes.SHA256()))
        self.refused(self.signed(self.envelope(), signature=other),
                     grpc.StatusCode.UNAUTHENTICATED, "REASON_BAD_SIGNATURE")

    def test_19_signer_certificate_of_garbage(self):
        self.refused(self.signed(self.envelope(), cert=b"\x30\x82\x01\x00 not a cert"),
                     grpc.StatusCode.UNAUTHENTICATED, "REASON_MALFORMED_REQUEST")

    def test_20_ca_certificate_as_signer(self):
        ca = x509.load_pem_x509_certificate(self.read("intermediate-ca.pem")) \
            .public_bytes(serialization.Encoding.DER)
        self.refused(self.signed(self.envelope(), cert=ca), grpc.StatusCode.UNAUTHENTICATED)

    def test_21_signer_of_another_agency(self):
        key = serialization.load_pem_private_key(self.read(f"agencies/{H29}/sign.key"), None)
        cert = x509.load_pem_x509_certificate(self.read(f"agencies/{H29}/sign.pem")) \
            .public_bytes(serialization.Encoding.DER)
        env = self.envelope()
        data = env.SerializeToString()
        self.refused(self.signed(envelope_bytes=data,
                                 signature=key.sign(data, ec.ECDSA(hashes.SHA256())), cert=cert),
                     grpc.StatusCode.UNAUTHENTICATED, "REASON_IDENTITY_MISMATCH")

    def test_22_stale_and_far_future_issued_at(self):
        now = time.time()
        self.refused(self.signed(self.envelope(issued_at=now - 3600, expires_at=now + 60)),
                     grpc.StatusCode.FAILED_PRECONDITION, "REASON_STALE_REQUEST", "NTP")
        self.refused(self.signed(self.envelope(issued_at=now + 86400 * 365,
                                               expires_at=now + 86400 * 365 + 60)),
                     grpc.StatusCode.FAILED_PRECONDITION, "REASON_STALE_REQUEST")

    def test_23_expired_or_endless_requests(self):
        now = time.time()
        self.refused(self.signed(self.envelope(issued_at=now - 10, expires_at=now - 5)),
                     grpc.StatusCode.FAILED_PRECONDITION, "REASON_EXPIRED_REQUEST")
        self.refused(self.signed(self.envelope(expires_at=now + 86400 * 30)),
                     grpc.StatusCode.FAILED_PRECONDITION, "REASON_EXPIRED_REQUEST")

    def test_24_missing_times(self):
        self.refused(self.signed(self.envelope(issued_at=None)),
                     grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST", "issued_at")

    def test_25_replayed_request(self):
        req = self.signed(self.envelope())
        self.stub.Call(req, timeout=10)
        self.refused(req, grpc.StatusCode.FAILED_PRECONDITION, "REASON_REPLAY", "already used")

    def test_26_query_key_the_dataset_does_not_declare(self):
        # Refused by the gateway itself (the registry declares the keys),
        # whatever the adapter would do; the message lists the keys accepted.
        self.refused(self.signed(self.envelope(query={"salary": "1"})),
                     grpc.StatusCode.INVALID_ARGUMENT, "REASON_UNKNOWN_QUERY_KEY",
                     "unknown query key 'salary'; dataset bca.population accepts: citizen_id,")
        self.refused(self.signed(self.envelope(query={"province_code.prefix": "0"})),
                     grpc.StatusCode.INVALID_ARGUMENT, "REASON_UNKNOWN_QUERY_KEY",
                     "full_name.prefix, birth_date, birth_date.from, birth_date.to")

    def test_26a_names_asked_by_a_forbidden_field(self):
        # The attack of issue 24: full_name only, selected by ethnicity.
        err = self.refused(self.signed(self.envelope(fields=["full_name"],
                                                     query={"ethnicity": "Khmer"})),
                           grpc.StatusCode.PERMISSION_DENIED, "REASON_QUERY_NOT_ALLOWED",
                           "ethnicity")
        self.assertEqual(detail_of(err).policy_rule_id, "no-ethnicity-to-provinces")
        self.assertIn("Decree 13/2023", detail_of(err).legal_basis)

    def test_27_ungranted_field(self):
        err = self.refused(self.signed(self.envelope(fields=["address"])),
                           grpc.StatusCode.PERMISSION_DENIED, "REASON_POLICY_DENIED")
        self.assertIn("Law on Data 2024", detail_of(err).legal_basis)

    def test_28_huge_max_records_is_capped(self):
        resp = self.stub.Call(self.signed(self.envelope(query={}, max_records=4_000_000_000)),
                              timeout=30)
        env = exchange_pb2.ResponseEnvelope()
        env.ParseFromString(resp.envelope)
        self.assertLessEqual(len(env.records.rows), 10000)

    def test_29_unknown_envelope_fields_are_signed_and_harmless(self):
        data = self.envelope().SerializeToString() + b"\xf8\x07\x01"  # field 127 = 1
        resp = self.stub.Call(self.signed(envelope_bytes=data), timeout=10)
        self.assertTrue(resp.signature)

    def test_30_stream_request_refused_by_policy_ends_with_status_only(self):
        with self.assertRaises(grpc.RpcError) as ctx:
            list(self.stub.Stream(self.signed(self.envelope(fields=["address"])), timeout=10))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

    def test_31_unicode_in_legal_basis_and_subject_is_accepted_and_audited(self):
        env = self.envelope(legal_basis="Nghị định 194/2025/NĐ-CP Điều 16 \U0001F600",
                            data_subject_id="001000000000")
        resp = self.stub.Call(self.signed(env), timeout=10)
        self.assertTrue(resp.signature)
        rec = self.env.audit_records()[-1]
        self.assertIn("Nghị định", rec["legal_basis"])
        self.assertNotIn("data_subject_id", rec)
        self.assertIn("data_subject_hmac", rec)

    def test_32_invalid_utf8_cannot_flood_the_log(self):
        # Found by fuzz_signed_request: protobuf logged a line for every
        # string field with invalid UTF-8, so anyone could fill the log.
        def utf8_lines():
            return sum("invalid UTF-8" in line for line in self.env.log("gateway").splitlines())

        before = utf8_lines()
        data = self.envelope(request_id="valid").SerializeToString().replace(
            b"valid", b"\xff\xfe\xfd\xfc\xfb")
        for _ in range(50):
            with self.assertRaises(grpc.RpcError) as ctx:
                self.stub.Call(self.signed(envelope_bytes=data), timeout=10)
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertLessEqual(utf8_lines() - before, 1)

    def test_33_data_subject_id_in_the_wrong_format(self):
        for subject in ("001000000000\n; DROP TABLE", "x" * 65, "Nguyễn Văn A"):
            self.refused(self.signed(self.envelope(data_subject_id=subject)),
                         grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST",
                         "data_subject_id must be")
        self.refused(self.signed(self.envelope(consent_reference="c" * 300)),
                     grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST",
                     "consent_reference")

    def test_34_connection_flood_does_not_stop_service(self):
        # 300 TCP connections that never finish a TLS handshake, and 20 TLS
        # clients of a CA nobody trusts: good clients are still served.
        host, port = self.env.gateway.rsplit(":", 1)
        socks = []
        try:
            for _ in range(300):
                socks.append(socket.create_connection((host, int(port)), timeout=5))
            strangers = []
            for _ in range(20):
                s = socket.create_connection((host, int(port)), timeout=5)
                s.sendall(b"\x16\x03\x01\x02\x00" + os.urandom(512))  # a bogus ClientHello
                strangers.append(s)
            socks.extend(strangers)
            for _ in range(5):
                ok = self.stub.Call(self.signed(self.envelope()), timeout=10)
                self.assertTrue(ok.signature)
            fresh = grpc.secure_channel(self.env.gateway, grpc.ssl_channel_credentials(
                self.read("root-ca.pem"), self.read(f"agencies/{H30}/tls.key"),
                self.read(f"agencies/{H30}/tls.pem")))
            try:
                ok = exchange_pb2_grpc.ExchangeStub(fresh).Call(
                    self.signed(self.envelope()), timeout=10)
                self.assertTrue(ok.signature)
            finally:
                fresh.close()
        finally:
            for s in socks:
                s.close()
        self.assertIsNone(self.env.procs["gateway"].poll())

    def test_35_revoked_tls_certificate_is_audited_naming_who_tried(self):
        folder = "revoked-tls-H30"
        self.env.pki_cmd("agency", H30, env={"DX_PKI_FOLDER": folder})
        d = f"agencies/{folder}"
        stub = self.stub_as(d)
        self.assertTrue(stub.Call(self.signed(self.envelope()), timeout=10).signature)
        self.env.pki_cmd("revoke", os.path.join(self.env.pki, d, "tls.leaf.pem"))
        deadline = time.time() + 20  # the CRL is re-read within 5 s
        while True:
            request = self.signed(self.envelope())
            try:
                stub.Call(request, timeout=10)
            except grpc.RpcError as err:
                self.assertEqual(err.code(), grpc.StatusCode.UNAUTHENTICATED, err.details())
                self.assertEqual(detail_of(err).reason, errors_pb2.REASON_CERT_REVOKED)
                break
            self.assertLess(time.time(), deadline, "the revocation never took effect")
            time.sleep(0.3)
        rec = self.env.audit_records()[-1]
        self.assertEqual(rec["reason"], "REASON_CERT_REVOKED")
        self.assert_names_who_tried(rec, request)
        revoked = x509.load_pem_x509_certificate(self.read(f"{d}/tls.pem"))
        self.assertEqual(base64.b64decode(rec["tls_cert_sha256"]),
                         revoked.fingerprint(hashes.SHA256()))
        self.assertFalse(rec.get("identity_verified", False))  # claimed, not proven
        listed = self.env.dxctl("audit", "list", "--data-dir", self.env.data_dir,
                                "--from", str(rec["sequence_number"]), "--limit", "1").stdout
        self.assertIn(f"claimed to be {H30}/hotich, not verified", listed)

    def test_36_person_certificate_on_the_exchange_port(self):
        request = self.signed(self.envelope())
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub_as("people/auditor1").Call(request, timeout=10)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertIn("names auditor:auditor1, not an agency", ctx.exception.details())
        rec = self.env.audit_records()[-1]
        self.assertEqual(rec["reason"], "REASON_TLS_IDENTITY_MISSING")
        self.assertEqual(rec.get("request_id"), self.envelope_of(request).request_id)
        self.assertEqual(len(base64.b64decode(rec["tls_cert_sha256"])), 32)
        self.assertFalse(rec.get("identity_verified", False))

    def test_37_verified_refusals_and_answers_say_so(self):
        ok = self.stub.Call(self.signed(self.envelope()), timeout=10)
        self.assertTrue(ok.signature)
        self.assertTrue(self.env.audit_records()[-1]["identity_verified"])
        self.refused(self.signed(self.envelope(dataset_id="no.such.dataset")),
                     grpc.StatusCode.NOT_FOUND)
        records = self.env.audit_records()
        denied = [r for r in records if r.get("dataset_id") == "no.such.dataset"][-1]
        self.assertTrue(denied["identity_verified"])  # who asked is proven

    @staticmethod
    def envelope_of(request):
        return exchange_pb2.RequestEnvelope.FromString(request.envelope)


if __name__ == "__main__":
    unittest.main()
