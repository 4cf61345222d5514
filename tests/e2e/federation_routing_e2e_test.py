"""Routing through a peer platform (issue 27; docs/FEDERATION.md, "Routing
through peers"). Two platforms on loopback, each with its own PKI, registry
and policy: Hanoi's (vn.gov.hanoi, the consumer agency H30's) and the
Ministry of Public Security's (vn.gov.bca, which serves bca.population).
Both import one anchor signed by the hub's operator (openssl CLI). Hanoi's
registry says that bca.population is served by vn.gov.bca; its gateway
forwards H30's signed request unchanged to the ministry's gateway over
mutual TLS as itself. The test checks the answer and the hop receipt with
openssl, each platform's audit record, and what a hostile hop or consumer
can do: alter the bytes in transit, present an agency of one platform as
another's, replay to another entry, loop, or find the peer down."""
import base64
import json
import os
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
from dx.v1 import errors_pb2, exchange_pb2, exchange_pb2_grpc  # noqa: E402
from tests.harness import DevEnv  # noqa: E402
from tests.harness.anchors import AnchorMaker  # noqa: E402
from tests.harness.dev_env import free_ports  # noqa: E402
from consumer import Consumer  # noqa: E402
from grpc_status import detail_of  # noqa: E402
import rfc6962  # noqa: E402

H30 = "000.00.00.H30"
HANOI, BCA = "vn.gov.hanoi", "vn.gov.bca"
FIELDS = ["citizen_id", "full_name", "birth_date"]


def indent_pem(path):
    with open(path) as f:
        return "|\n          " + f.read().strip().replace("\n", "\n          ")


def anchor_text(hn, bca, hn_port, bca_port, serial=1):
    def platform(pid, env, port, agencies, datasets):
        return f"""  - platform_id: {pid}
    root_certificates_pem:
      - {indent_pem(os.path.join(env.pki, "root-ca.pem"))}
    intermediate_certificates_pem:
      - {indent_pem(os.path.join(env.pki, "intermediate-ca.pem"))}
    gateways: [{{address: "127.0.0.1:{port}", tls_name: localhost}}]
    agencies: {agencies}
    datasets: {datasets}
"""
    now = time.time()
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (f"platform_id: vn.ndxp.hub\nserial: {serial}\n"
            f"issued_at: \"{time.strftime(fmt, time.gmtime(now - 86400))}\"\n"
            f"expires_at: \"{time.strftime(fmt, time.gmtime(now + 30 * 86400))}\"\n"
            "platforms:\n"
            + platform(BCA, bca, bca_port, '["000.00.00.G01"]', "[bca.population]")
            + platform(HANOI, hn, hn_port, '["000.00.00.H30"]', "[]"))


def federation_settings(platform, anchors):
    return (f"{{platform_id: {platform}, anchors: [{{"
            f"operator_platform_id: vn.ndxp.hub, "
            f"anchor_file: {anchors}/anchor.yaml, "
            f"signature_file: {anchors}/anchor.yaml.sig, "
            f"operator_certificate_file: {anchors}/op.pem}}]}}")


def hanoi_registry(env):
    """Hanoi's registry: bca.population served by the ministry's platform
    (its adapter block replaced by peer_platform)."""
    text = env.registry_text()
    start = text.index("  - id: bca.population")
    block_start = text.index("    adapter:\n", start)
    block_end = text.index("    fields:\n", block_start)
    return text[:block_start] + f"    peer_platform: {BCA}\n" + text[block_end:]


def openssl_verifies(tmp, data, signature, cert_der):
    paths = {n: os.path.join(tmp, n) for n in ("data", "sig", "cert.der", "pub.pem")}
    for name, value in (("data", data), ("sig", signature), ("cert.der", cert_der)):
        with open(paths[name], "wb") as f:
            f.write(value)
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in", paths["cert.der"],
                    "-pubkey", "-noout", "-out", paths["pub.pem"]], check=True)
    out = subprocess.run(["openssl", "dgst", "-sha256", "-verify", paths["pub.pem"],
                          "-signature", paths["sig"], paths["data"]],
                         capture_output=True, text=True)
    return out.stdout.strip() == "Verified OK"


class FederationRoutingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-fedroute-")
        root = cls.tmp.name
        anchors = os.path.join(root, "anchors")
        os.makedirs(anchors)
        cls.maker = AnchorMaker(anchors)
        hn_port, bca_port = free_ports(2)
        cls.bca = DevEnv(os.path.join(root, "bca"), BUILD, population=50, business=5,
                         gateway_settings={"federation": federation_settings(BCA, anchors)})
        cls.hn = DevEnv(os.path.join(root, "hn"), BUILD, population=5, business=5,
                        gateway_settings={"federation": federation_settings(HANOI, anchors)})
        cls.bca.setup()
        cls.hn.setup()
        cls.bca.gateway_port, cls.hn.gateway_port = bca_port, hn_port
        cls.maker.write_and_sign(anchor_text(cls.hn, cls.bca, hn_port, bca_port))
        try:
            cls.bca.start()
            # Hanoi: no adapters of its own; bca.population is the ministry's.
            # Its policy lets H30 ask for one more purpose, which the
            # ministry's policy does not grant.
            cls.hn.write("registry.yaml", hanoi_registry(cls.hn))
            policy = cls.hn.policy_text().replace(
                "purposes: [civil-registration]",
                "purposes: [civil-registration, household-survey]", 1)
            cls.hn.write("policy.yaml", policy)
            config, port_file = cls.hn.gateway_config(
                "gateway", "gw1", hn_port, "gateway-data", "pki/gateway",
                cls.hn.gateway_settings)
            cls.hn._spawn("gateway", [cls.hn.bin("dxgate"), "--config", config])
            cls.hn._wait_port("gateway", port_file)
        except Exception:
            cls.hn.close()
            cls.bca.close()
            raise
        cls.consumer = Consumer(cls.hn)

    @classmethod
    def tearDownClass(cls):
        cls.consumer.close()
        cls.hn.close()
        cls.bca.close()
        cls.tmp.cleanup()

    def channel(self, server_env, client_pki, client_dir):
        """A mutual-TLS channel to `server_env`'s gateway (checked against its
        own root) with the TLS pair in `client_pki`/`client_dir`."""
        def read(pki, p):
            with open(os.path.join(pki, p), "rb") as f:
                return f.read()
        channel = grpc.secure_channel(
            server_env.gateway,
            grpc.ssl_channel_credentials(read(server_env.pki, "root-ca.pem"),
                                         read(client_pki, f"{client_dir}/tls.key"),
                                         read(client_pki, f"{client_dir}/tls.pem")),
            options=[("grpc.ssl_target_name_override", "localhost")])
        self.addCleanup(channel.close)
        return channel

    # A peer gateway played by the test: Hanoi's gateway certificate,
    # connecting to the ministry's gateway as a hop would.
    def hop_stub(self):
        return exchange_pb2_grpc.ExchangeStub(self.channel(self.bca, self.hn.pki, "gateway"))

    def refused(self, fn):
        try:
            fn()
        except grpc.RpcError as e:
            d = detail_of(e)
            return e.code(), d
        self.fail("the call was not refused")

    def records_of(self, env, request_id):
        return [r for r in env.audit_records() if r.get("request_id") == request_id]

    def test_1_a_province_agency_reads_the_ministrys_dataset_through_its_platform(self):
        request = self.consumer.signed(fields=FIELDS)
        request_id = exchange_pb2.RequestEnvelope.FromString(request.envelope).request_id
        answer = self.consumer.stub.Call(request, timeout=20)
        env = exchange_pb2.ResponseEnvelope.FromString(answer.envelope)
        self.assertEqual(list(env.records.columns), FIELDS)
        self.assertGreater(len(env.records.rows), 0)
        # The provider's answer, signed by the ministry's gateway, checks with
        # openssl alone; the ministry's receipt is in its envelope.
        self.assertTrue(openssl_verifies(self.tmp.name, answer.envelope, answer.signature,
                                         answer.signer_certificate))
        self.assertEqual(env.gateway_node_id, "gw1")
        # Hanoi's hop receipt, beside the signed bytes, checks with openssl too.
        self.assertEqual(len(answer.hop_receipts), 1)
        hop = answer.hop_receipts[0]
        self.assertTrue(openssl_verifies(self.tmp.name, hop.body, hop.signature,
                                         hop.signer_certificate))
        body = exchange_pb2.HopReceiptBody.FromString(hop.body)
        self.assertEqual(body.platform_id, HANOI)
        self.assertEqual(body.routed_to_platform, BCA)
        import hashlib
        self.assertEqual(body.request_sha256, hashlib.sha256(request.envelope).digest())
        self.assertEqual(body.response_envelope_sha256,
                         hashlib.sha256(answer.envelope).digest())
        # A changed byte of the receipt fails openssl.
        tampered = bytearray(hop.body)
        tampered[-1] ^= 1
        self.assertFalse(openssl_verifies(self.tmp.name, bytes(tampered), hop.signature,
                                          hop.signer_certificate))
        # Each platform recorded it: the ministry as a request forwarded by
        # Hanoi's gateway, decided on H30's identity; Hanoi as routed.
        bca_records = self.records_of(self.bca, request_id)
        self.assertEqual(len(bca_records), 1, bca_records)
        r = bca_records[0]
        self.assertEqual(r["decision"], "DECISION_ALLOW")
        self.assertEqual(r["consumer_agency"], H30)
        self.assertTrue(r["identity_verified"])
        self.assertEqual(r["via_platform"], HANOI)
        self.assertEqual(r["via_gateway"], "gw1")
        self.assertEqual(r["hop_path"], [HANOI])
        self.assertEqual(r["policy_rule_id"], "h30-civil-registration")
        hn_records = self.records_of(self.hn, request_id)
        self.assertEqual(len(hn_records), 1, hn_records)
        h = hn_records[0]
        self.assertEqual(h["decision"], "DECISION_ALLOW")
        self.assertEqual(h["routed_to_platform"], BCA)
        self.assertEqual(int(h.get("sequence_number", 0)), body.sequence_number)
        self.assertEqual(int(h["record_count"]), len(env.records.rows))
        # The hop's record is in Hanoi's log: H30 proves it with dxctl and
        # the proof checks with an independent RFC 6962 checker.
        deadline = time.time() + 30
        while True:
            out = self.hn.dxctl("audit", "proof", str(body.sequence_number), "--json",
                                "--gateway", self.hn.gateway, "--pki", self.hn.pki,
                                "--agency", H30)
            if out.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        proof = json.loads(out.stdout.splitlines()[0])
        leaf = base64.b64decode(proof["leaf_hash"])
        self.assertEqual(leaf, body.record_hash)
        self.assertTrue(rfc6962.verify_inclusion(
            int(proof.get("leaf_index", 0)), int(proof["tree_size"]), leaf,
            [base64.b64decode(p) for p in proof.get("path", [])],
            base64.b64decode(proof["tree_head"]["root_hash"])))

    def test_2_each_platform_refuses_on_its_own_rules_and_names_itself(self):
        # Hanoi's own rule: no fields named, and its grant allows fewer than
        # all: refused before anything leaves.
        code, d = self.refused(lambda: self.consumer.call())
        self.assertEqual(code, grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(d.platform_id, HANOI)
        self.assertIn("name the fields", d.message)
        code, d = self.refused(lambda: self.consumer.call(fields=["citizen_id", "ethnicity"]))
        self.assertEqual(code, grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(d.platform_id, HANOI)
        # Hanoi allows household-survey, the ministry does not: the ministry's
        # refusal comes back as it gave it, naming it, citing its legal basis.
        request = self.consumer.signed(fields=FIELDS, purpose="household-survey")
        request_id = exchange_pb2.RequestEnvelope.FromString(request.envelope).request_id
        code, d = self.refused(lambda: self.consumer.stub.Call(request, timeout=20))
        self.assertEqual(code, grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(d.platform_id, BCA)
        self.assertTrue(d.legal_basis, d)
        self.assertEqual(d.request_id, request_id)
        hn = self.records_of(self.hn, request_id)
        self.assertEqual([x["decision"] for x in hn], ["DECISION_DENY"])
        self.assertIn(f"platform {BCA} refused", hn[0]["message"])
        self.assertEqual(len(self.records_of(self.bca, request_id)), 1)

    def test_3_a_request_altered_in_transit_is_refused_by_the_provider(self):
        request = self.consumer.signed(fields=FIELDS)
        env = exchange_pb2.RequestEnvelope.FromString(request.envelope)
        env.fields.append("address")  # what a hostile hop would add
        altered = exchange_pb2.SignedRequest(
            envelope=env.SerializeToString(), signature=request.signature,
            signer_certificate=request.signer_certificate)
        code, d = self.refused(lambda: self.hop_stub().Call(
            altered, timeout=20, metadata=(("dx-hop-path", HANOI), ("dx-hop-limit", "3"))))
        self.assertEqual(code, grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_BAD_SIGNATURE")
        self.assertIn(f"forwarded by platform {HANOI}", d.message)
        self.assertEqual(d.platform_id, BCA)

    def test_4_an_agency_of_one_platform_cannot_present_itself_as_anothers(self):
        # The ministry's PKI also issues an "H30" certificate (any CA can):
        # it does not chain to Hanoi's roots, which the anchor says speak
        # for H30. At Hanoi (the first hop) its own trust store refuses it;
        # forwarded to the ministry, the anchor's check refuses it.
        class Env:
            pki = self.bca.pki
            gateway = self.hn.gateway
        forged = Consumer(Env)  # signs with the ministry's "H30" keys
        self.addCleanup(forged.close)
        # Hanoi's TLS port lets the ministry's PKI connect (peer gateways'
        # roots), but the exchange checks the caller against Hanoi's own.
        stub = exchange_pb2_grpc.ExchangeStub(self.channel(
            self.hn, self.bca.pki, f"agencies/{H30}"))
        code, d = self.refused(lambda: stub.Call(forged.signed(fields=FIELDS), timeout=20))
        self.assertEqual(code, grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(d.platform_id, HANOI)
        # Signed by the ministry's "H30", forwarded by a Hanoi gateway.
        code, d = self.refused(lambda: self.hop_stub().Call(
            forged.signed(fields=FIELDS), timeout=20,
            metadata=(("dx-hop-path", HANOI), ("dx-hop-limit", "3"))))
        self.assertEqual(code, grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_IDENTITY_MISMATCH")
        self.assertIn(f"does not chain to the roots of {HANOI}", d.message)
        # And an agency of Hanoi calling the ministry directly, not through
        # its platform: the TLS port lets Hanoi's PKI connect (for Hanoi's
        # gateways), the exchange refuses an agency of another PKI.
        stub = exchange_pb2_grpc.ExchangeStub(self.channel(
            self.bca, self.hn.pki, f"agencies/{H30}"))
        code, d = self.refused(lambda: stub.Call(
            self.consumer.signed(fields=FIELDS), timeout=20))
        self.assertEqual(code, grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(d.platform_id, BCA)

    def test_5_a_request_replayed_to_another_entry_is_refused(self):
        request = self.consumer.signed(fields=FIELDS)
        self.consumer.stub.Call(request, timeout=20)
        # The same signed bytes, brought straight to the ministry by a hop.
        code, d = self.refused(lambda: self.hop_stub().Call(
            request, timeout=20, metadata=(("dx-hop-path", HANOI), ("dx-hop-limit", "3"))))
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_REPLAY")
        # And again through Hanoi: Hanoi's own replay guard.
        code, d = self.refused(lambda: self.consumer.stub.Call(request, timeout=20))
        self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_REPLAY")
        self.assertEqual(d.platform_id, HANOI)

    def test_6_transit_metadata_loops_and_hop_limits(self):
        stub = self.hop_stub()
        cases = [
            ((("dx-hop-path", f"{BCA},{HANOI}"), ("dx-hop-limit", "3")),
             grpc.StatusCode.FAILED_PRECONDITION, "routing loop"),
            ((("dx-hop-path", HANOI), ("dx-hop-limit", "0")),
             grpc.StatusCode.FAILED_PRECONDITION, "no hops left"),
            ((("dx-hop-path", HANOI),), grpc.StatusCode.INVALID_ARGUMENT, "dx-hop-limit"),
            ((("dx-hop-path", "vn.gov.other"), ("dx-hop-limit", "3")),
             grpc.StatusCode.INVALID_ARGUMENT, "must end with the forwarding platform"),
            ((("dx-hop-path", "a b"), ("dx-hop-limit", "3")),
             grpc.StatusCode.INVALID_ARGUMENT, "platform ids"),
            ((("dx-hop-path", HANOI), ("dx-hop-limit", "-1")),
             grpc.StatusCode.INVALID_ARGUMENT, "dx-hop-limit"),
        ]
        for metadata, want, text in cases:
            with self.subTest(metadata=metadata):
                code, d = self.refused(lambda: stub.Call(
                    self.consumer.signed(fields=FIELDS), timeout=20, metadata=metadata))
                self.assertEqual(code, want)
                self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_ROUTING_REFUSED")
                self.assertIn(text, d.message)
        # A stream is not served across platforms yet: refused, not hung.
        code, d = self.refused(lambda: list(stub.Stream(
            self.consumer.signed(fields=FIELDS), timeout=20,
            metadata=(("dx-hop-path", HANOI), ("dx-hop-limit", "3")))))
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)
        code, d = self.refused(lambda: list(self.consumer.stub.Stream(
            self.consumer.signed(fields=FIELDS), timeout=20)))
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_ROUTING_REFUSED")

    def test_z_a_peer_that_is_down_is_named(self):
        self.bca.stop_gateway()
        request = self.consumer.signed(fields=FIELDS)
        code, d = self.refused(lambda: self.consumer.stub.Call(request, timeout=30))
        # Connection refused: UNAVAILABLE at once, not the deadline.
        self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_PEER_UNAVAILABLE")
        self.assertIn(BCA, d.message)
        self.assertEqual(d.platform_id, HANOI)
        request_id = exchange_pb2.RequestEnvelope.FromString(request.envelope).request_id
        self.assertEqual([x["decision"] for x in self.records_of(self.hn, request_id)],
                         ["DECISION_ERROR"])


if __name__ == "__main__":
    unittest.main()
