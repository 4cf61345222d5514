"""Routing through peer platforms (issue 27; docs/FEDERATION.md, "Routing
through peers"). Three platforms on loopback, each with its own PKI,
registry and policy: Hanoi's (vn.gov.hanoi, the consumer agency H30's), the
national hub (vn.ndxp.hub) and the Ministry of Public Security's
(vn.gov.bca, which serves bca.population). All import one anchor signed by
the hub's operator (openssl CLI); Hanoi and the ministry never exchange
anchors. Hanoi's registry says that bca.population and mof.business go to
the hub, the hub's that they go to the ministry; the hub's transit rules
(its policy) exclude mof.business. Each gateway forwards H30's signed
request unchanged over mutual TLS as itself. The test checks the answer and
each hop receipt with openssl, each platform's audit record, and what a
hostile hop or consumer can do: alter the bytes in transit, present an
agency of one platform as another's, replay to another entry, loop, or find
a peer down."""
import base64
import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import threading
import tempfile
import time
import unittest

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
from tests.harness.platforms import (  # noqa: E402
    BCA, H30, HANOI, HANOI_MAX_RECORDS, HUB, Platforms)
from consumer import Consumer  # noqa: E402
from grpc_status import detail_of  # noqa: E402
import rfc6962  # noqa: E402

FIELDS = ["citizen_id", "full_name", "birth_date"]


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
        cls.platforms = Platforms(cls.tmp.name, BUILD).start()
        cls.hn, cls.hub, cls.bca = cls.platforms.envs
        cls.consumer = Consumer(cls.hn)

    @classmethod
    def tearDownClass(cls):
        cls.consumer.close()
        cls.platforms.close()
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

    # A peer gateway played by the test: Hanoi's gateway certificate (or
    # `as_env`'s), connecting to the ministry's gateway as a hop would.
    def hop_stub(self, as_env=None):
        return exchange_pb2_grpc.ExchangeStub(
            self.channel(self.bca, (as_env or self.hn).pki, "gateway"))

    def origin(self, request, as_env=None, sha=None):
        """The dx-origin-bin header a platform's gateway signs for `request`
        (Hanoi's unless `as_env`), as bytes."""
        env = as_env or self.hn
        with open(os.path.join(env.pki, "gateway", "sign.key"), "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        with open(os.path.join(env.pki, "gateway", "sign.pem"), "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        body = exchange_pb2.OriginAttestationBody(
            platform_id=HANOI if env is self.hn else HUB, node_id="gw1",
            request_sha256=sha or hashlib.sha256(request.envelope).digest())
        body.issued_at.GetCurrentTime()
        data = body.SerializeToString()
        return exchange_pb2.OriginAttestation(
            body=data, signature=key.sign(data, ec.ECDSA(hashes.SHA256())),
            signer_certificate=cert.public_bytes(serialization.Encoding.DER)
        ).SerializeToString()

    def hop_metadata(self, request, path=HANOI, limit="3"):
        return (("dx-hop-path", path), ("dx-hop-limit", limit),
                ("dx-origin-bin", self.origin(request)))

    def refused(self, fn):
        try:
            fn()
        except grpc.RpcError as e:
            d = detail_of(e)
            return e.code(), d
        self.fail("the call was not refused")

    def records_of(self, env, request_id):
        return [r for r in env.audit_records() if r.get("request_id") == request_id]

    def assert_in_log(self, env, seq, leaf):
        """The record `seq` of `env`'s log has leaf hash `leaf`, proved by
        `dxctl audit proof` and checked by an independent RFC 6962 checker."""
        deadline = time.time() + 30
        while True:  # until a tree head covers it
            out = env.auditor("proof", str(seq), "--json")
            if out.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        proof = json.loads(out.stdout.splitlines()[0])
        self.assertEqual(base64.b64decode(proof["leaf_hash"]), leaf)
        self.assertTrue(rfc6962.verify_inclusion(
            int(proof.get("leaf_index", 0)), int(proof["tree_size"]), leaf,
            [base64.b64decode(p) for p in proof.get("path", [])],
            base64.b64decode(proof["tree_head"]["root_hash"])))

    def test_1_a_province_agency_reads_the_ministrys_dataset_through_two_hops(self):
        request = self.consumer.signed(fields=FIELDS, max_records=10)
        request_id = exchange_pb2.RequestEnvelope.FromString(request.envelope).request_id
        answer = self.consumer.stub.Call(request, timeout=20)
        env = exchange_pb2.ResponseEnvelope.FromString(answer.envelope)
        self.assertEqual(list(env.records.columns), FIELDS)
        self.assertGreater(len(env.records.rows), 0)
        # The provider's answer, signed by the ministry's gateway, checks with
        # openssl alone; the ministry's receipt is in its envelope.
        self.assertTrue(openssl_verifies(self.tmp.name, answer.envelope, answer.signature,
                                         answer.signer_certificate))
        self.assertEqual(env.request_sha256, hashlib.sha256(request.envelope).digest())
        # One receipt per platform that forwarded it, beside the signed bytes:
        # the hub's, then Hanoi's (the nearest last); each checks with openssl.
        self.assertEqual(len(answer.hop_receipts), 2)
        bodies = []
        for hop in answer.hop_receipts:
            self.assertTrue(openssl_verifies(self.tmp.name, hop.body, hop.signature,
                                             hop.signer_certificate))
            body = exchange_pb2.HopReceiptBody.FromString(hop.body)
            self.assertEqual(body.request_sha256, hashlib.sha256(request.envelope).digest())
            self.assertEqual(body.response_envelope_sha256,
                             hashlib.sha256(answer.envelope).digest())
            bodies.append(body)
        self.assertEqual([(b.platform_id, b.routed_to_platform) for b in bodies],
                         [(HUB, BCA), (HANOI, HUB)])
        # A changed byte of a receipt fails openssl.
        hop = answer.hop_receipts[1]
        tampered = bytearray(hop.body)
        tampered[-1] ^= 1
        self.assertFalse(openssl_verifies(self.tmp.name, bytes(tampered), hop.signature,
                                          hop.signer_certificate))
        # Each platform recorded it. The ministry: forwarded by the hub's
        # gateway, after Hanoi, decided on H30's identity.
        bca_records = self.records_of(self.bca, request_id)
        self.assertEqual(len(bca_records), 1, bca_records)
        r = bca_records[0]
        self.assertEqual(r["decision"], "DECISION_ALLOW")
        self.assertEqual(r["consumer_agency"], H30)
        self.assertTrue(r["identity_verified"])
        self.assertEqual(r["via_platform"], HUB)
        self.assertEqual(r["via_gateway"], "gw1")
        self.assertEqual(r["hop_path"], [HANOI, HUB])
        self.assertEqual(r["policy_rule_id"], "h30-civil-registration")
        # The hub and Hanoi: routed on, each receipt naming its record, which
        # is in that platform's log.
        for platform_env, body, via, to in ((self.hub, bodies[0], HANOI, BCA),
                                            (self.hn, bodies[1], "", HUB)):
            records = self.records_of(platform_env, request_id)
            self.assertEqual(len(records), 1, records)
            h = records[0]
            self.assertEqual(h["decision"], "DECISION_ALLOW")
            self.assertEqual(h.get("via_platform", ""), via)
            self.assertEqual(h["routed_to_platform"], to)
            self.assertEqual(int(h.get("sequence_number", 0)), body.sequence_number)
            self.assertEqual(int(h["record_count"]), len(env.records.rows))
            self.assert_in_log(platform_env, body.sequence_number, body.record_hash)

    def test_1c_dxctl_checks_the_answer_and_every_hop_receipt(self):
        args = ("--field", "citizen_id", "--field", "full_name", "--max-records", "10",
                "--quiet")
        # Without the peer platforms' CAs the ministry's signature cannot be
        # checked: dxctl says so and how to fix it.
        out = self.hn.call(H30, "hotich", "bca.population", "civil-registration", *args)
        self.assertEqual(out.returncode, 3, out.stdout + out.stderr)
        self.assertIn("VERIFICATION FAILED", out.stdout)
        self.assertIn("--peer-ca", out.stdout)
        # With them (as the anchor lists them): the answer and both receipts.
        bundle = os.path.join(self.tmp.name, "peer-cas.pem")
        with open(bundle, "w") as f:
            for env in (self.bca, self.hub):
                for name in ("root-ca.pem", "intermediate-ca.pem"):
                    with open(os.path.join(env.pki, name)) as part:
                        f.write(part.read())
        out = self.hn.call(H30, "hotich", "bca.population", "civil-registration", *args,
                           "--peer-ca", bundle)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("ALLOWED", out.stdout)
        self.assertIn(f"hop receipt OK: platform {HUB} (node gw1) routed it to {BCA}",
                      out.stdout)
        self.assertIn(f"hop receipt OK: platform {HANOI} (node gw1) routed it to {HUB}",
                      out.stdout)
        # Only the ministry's CAs: the hub's receipt does not check.
        only_bca = os.path.join(self.tmp.name, "bca-cas.pem")
        with open(only_bca, "w") as f:
            for name in ("root-ca.pem", "intermediate-ca.pem"):
                with open(os.path.join(self.bca.pki, name)) as part:
                    f.write(part.read())
        out = self.hn.call(H30, "hotich", "bca.population", "civil-registration", *args,
                           "--peer-ca", only_bca)
        self.assertEqual(out.returncode, 3, out.stdout + out.stderr)
        self.assertIn("hop receipt 1", out.stdout)

    def test_1b_the_hubs_transit_rules_refuse_a_dataset_and_name_the_hub(self):
        request = self.consumer.signed(dataset="mof.business", purpose="business-licensing")
        request_id = exchange_pb2.RequestEnvelope.FromString(request.envelope).request_id
        code, d = self.refused(lambda: self.consumer.stub.Call(request, timeout=20))
        self.assertEqual(code, grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(d.platform_id, HUB)
        self.assertEqual(self.records_of(self.bca, request_id), [])  # never reached it
        self.assertEqual([x["decision"] for x in self.records_of(self.hub, request_id)],
                         ["DECISION_DENY"])

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
        # Hanoi heard it from the hub: it records it as the hub's, naming
        # the platform the hub says refused (which Hanoi cannot check); the
        # hub heard it from the ministry itself.
        self.assertIn(f"platform {HUB} relayed a refusal it says is platform {BCA}'s",
                      hn[0]["message"])
        hub = self.records_of(self.hub, request_id)
        self.assertEqual([x["decision"] for x in hub], ["DECISION_DENY"])
        self.assertIn(f"platform {BCA} refused", hub[0]["message"])
        self.assertEqual(len(self.records_of(self.bca, request_id)), 1)

    def test_2b_what_this_platform_passes_on_is_bounded_by_its_limits(self):
        # The consumer's max_records is signed and cannot be lowered in
        # transit: an answer over what Hanoi passes on in one answer (or
        # over the day's quota) is refused, saying what to ask for.
        code, d = self.refused(lambda: self.consumer.call(fields=FIELDS))
        self.assertEqual(code, grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertEqual(d.platform_id, HANOI)
        self.assertIn(f"ask with max_records at most {HANOI_MAX_RECORDS}", d.message)
        columns, rows = self.consumer.call(fields=FIELDS, max_records=HANOI_MAX_RECORDS)
        self.assertEqual(len(rows), HANOI_MAX_RECORDS)

    def test_3_a_request_altered_in_transit_is_refused_by_the_provider(self):
        request = self.consumer.signed(fields=FIELDS)
        env = exchange_pb2.RequestEnvelope.FromString(request.envelope)
        env.fields.append("address")  # what a hostile hop would add
        altered = exchange_pb2.SignedRequest(
            envelope=env.SerializeToString(), signature=request.signature,
            signer_certificate=request.signer_certificate)
        code, d = self.refused(lambda: self.hop_stub().Call(
            altered, timeout=20, metadata=self.hop_metadata(altered)))
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
        impostor = forged.signed(fields=FIELDS)
        code, d = self.refused(lambda: self.hop_stub().Call(
            impostor, timeout=20, metadata=self.hop_metadata(impostor)))
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
        request = self.consumer.signed(fields=FIELDS, max_records=10)
        self.consumer.stub.Call(request, timeout=20)
        # The same signed bytes, brought straight to the ministry by a hop.
        code, d = self.refused(lambda: self.hop_stub().Call(
            request, timeout=20, metadata=self.hop_metadata(request)))
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_REPLAY")
        # And again through Hanoi: Hanoi's own replay guard.
        code, d = self.refused(lambda: self.consumer.stub.Call(request, timeout=20))
        self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_REPLAY")
        self.assertEqual(d.platform_id, HANOI)

    def test_6_transit_metadata_loops_and_hop_limits(self):
        stub = self.hop_stub()
        cases = [
            (f"{BCA},{HANOI}", "3", grpc.StatusCode.FAILED_PRECONDITION, "routing loop"),
            (HANOI, "0", grpc.StatusCode.FAILED_PRECONDITION, "no hops left"),
            (HANOI, None, grpc.StatusCode.INVALID_ARGUMENT, "dx-hop-limit"),
            ("vn.gov.other", "3", grpc.StatusCode.INVALID_ARGUMENT,
             "must end with the forwarding platform"),
            ("a b", "3", grpc.StatusCode.INVALID_ARGUMENT, "platform ids"),
            (HANOI, "-1", grpc.StatusCode.INVALID_ARGUMENT, "dx-hop-limit"),
        ]
        for path, limit, want, text in cases:
            with self.subTest(path=path, limit=limit):
                request = self.consumer.signed(fields=FIELDS)
                metadata = [m for m in self.hop_metadata(request, path, limit or "")
                            if limit is not None or m[0] != "dx-hop-limit"]
                code, d = self.refused(lambda: stub.Call(request, timeout=20,
                                                         metadata=metadata))
                self.assertEqual(code, want)
                self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_ROUTING_REFUSED")
                self.assertIn(text, d.message)
        # Hops cannot get around the consumer's own platform: the origin
        # attestation (Hanoi's gateway's signature over this very request)
        # is required, checked against Hanoi's roots, bound to the request,
        # and the path must start with Hanoi.
        request = self.consumer.signed(fields=FIELDS)
        other = self.consumer.signed(fields=FIELDS)
        hub_hop = self.hop_stub(as_env=self.hub)
        origin_cases = [
            (stub, (("dx-hop-path", HANOI), ("dx-hop-limit", "3")),
             "exactly one dx-origin-bin"),
            (stub, (("dx-hop-path", HANOI), ("dx-hop-limit", "3"),
                    ("dx-origin-bin", self.origin(other))), "another request"),
            (stub, (("dx-hop-path", HANOI), ("dx-hop-limit", "3"),
                    ("dx-origin-bin", self.origin(request, as_env=self.hub))),
             f"not by a gateway of {HANOI}"),
            # The hub, on its own, as if H30's request had come to it.
            (hub_hop, (("dx-hop-path", HUB), ("dx-hop-limit", "3"),
                       ("dx-origin-bin", self.origin(request, as_env=self.hub))),
             f"not by a gateway of {HANOI}"),
            (hub_hop, (("dx-hop-path", HUB), ("dx-hop-limit", "3"),
                       ("dx-origin-bin", self.origin(request))),
             f"must start with {HANOI}"),
        ]
        for hop, metadata, text in origin_cases:
            with self.subTest(text=text):
                code, d = self.refused(lambda: hop.Call(request, timeout=20,
                                                        metadata=metadata))
                self.assertIn(code, (grpc.StatusCode.PERMISSION_DENIED,
                                     grpc.StatusCode.INVALID_ARGUMENT))
                self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_ROUTING_REFUSED")
                self.assertIn(text, d.message)
        # With all of it right, the same request is served (so the cases
        # above were refused for what they changed).
        answer = stub.Call(request, timeout=20, metadata=self.hop_metadata(request))
        self.assertTrue(answer.envelope)
        # A stream is not served across platforms yet: refused, not hung.
        streamed = self.consumer.signed(fields=FIELDS)
        code, d = self.refused(lambda: list(stub.Stream(
            streamed, timeout=20, metadata=self.hop_metadata(streamed))))
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)
        code, d = self.refused(lambda: list(self.consumer.stub.Stream(
            self.consumer.signed(fields=FIELDS), timeout=20)))
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_ROUTING_REFUSED")

    def test_z_a_peer_that_is_down_is_named(self):
        # The ministry down: the hub says so, naming it; Hanoi relays that.
        self.bca.stop_gateway()
        request = self.consumer.signed(fields=FIELDS)
        code, d = self.refused(lambda: self.consumer.stub.Call(request, timeout=30))
        # Connection refused: UNAVAILABLE at once, not the deadline.
        self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_PEER_UNAVAILABLE")
        self.assertIn(f"platform {BCA}'s gateway", d.message)
        self.assertEqual(d.platform_id, HUB)
        request_id = exchange_pb2.RequestEnvelope.FromString(request.envelope).request_id
        for env in (self.hub, self.hn):
            self.assertEqual([x["decision"] for x in self.records_of(env, request_id)],
                             ["DECISION_ERROR"])
        # The hub down too: Hanoi names it.
        self.hub.stop_gateway()
        code, d = self.refused(lambda: self.consumer.call(fields=FIELDS, timeout=30))
        self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
        self.assertIn(f"platform {HUB}'s gateway", d.message)
        self.assertEqual(d.platform_id, HANOI)
        # A hub that makes up the answer, signed with its own gateway key
        # (more records, a field the ministry would never give): Hanoi
        # relays nothing of it, since only the platform that serves the
        # dataset (the anchor says: the ministry) may sign its answer.
        def read_hub(p):
            with open(os.path.join(self.hub.pki, p), "rb") as f:
                return f.read()
        hub_key = serialization.load_pem_private_key(read_hub("gateway/sign.key"), None)
        hub_cert = x509.load_pem_x509_certificate(read_hub("gateway/sign.pem")).public_bytes(
            serialization.Encoding.DER)

        def forge(request, context):
            env = exchange_pb2.ResponseEnvelope(
                request_sha256=hashlib.sha256(request.envelope).digest(),
                gateway_node_id="gw1", status=exchange_pb2.RESPONSE_STATUS_OK)
            env.records.columns.extend(FIELDS)
            data = env.SerializeToString()
            return exchange_pb2.SignedResponse(
                envelope=data, signature=hub_key.sign(data, ec.ECDSA(hashes.SHA256())),
                signer_certificate=hub_cert)
        forger = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=4))
        forger.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "dx.v1.Exchange", {"Call": grpc.unary_unary_rpc_method_handler(
                forge, request_deserializer=exchange_pb2.SignedRequest.FromString,
                response_serializer=exchange_pb2.SignedResponse.SerializeToString)}),))
        forger.add_secure_port(f"127.0.0.1:{self.hub.gateway_port}", grpc.ssl_server_credentials(
            [(read_hub("gateway/tls.key"), read_hub("gateway/tls.pem"))]))
        forger.start()
        deadline = time.time() + 30
        while True:  # until Hanoi's channel reconnects to the forger
            code, d = self.refused(lambda: self.consumer.call(fields=FIELDS, timeout=10))
            if "is refused, nothing of it is relayed" in d.message or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
        self.assertIn(f"signed by a gateway of {HUB}, not of {BCA}", d.message)
        forger.stop(None)

        # A hub that answers no call in time (a gRPC server with the hub's
        # TLS pair whose Call sleeps): each forward ends at the consumer's
        # deadline less the way back's margin, so Hanoi still answers, with
        # its refusal, before the consumer gives up; calls stuck on the hub
        # hold no thread (a local refusal is answered meanwhile).
        release = threading.Event()
        self.addCleanup(release.set)

        def sleepy(request, context):
            release.wait(10)
            return b""
        server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=40))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "dx.v1.Exchange", {"Call": grpc.unary_unary_rpc_method_handler(
                sleepy, request_deserializer=None, response_serializer=None)}),))

        def read(p):
            with open(os.path.join(self.hub.pki, p), "rb") as f:
                return f.read()
        server.add_secure_port(f"127.0.0.1:{self.hub.gateway_port}",
                               grpc.ssl_server_credentials(
                                   [(read("gateway/tls.key"), read("gateway/tls.pem"))]))
        server.start()
        self.addCleanup(server.stop, None)

        def slow_call():
            try:
                self.consumer.call(fields=FIELDS, timeout=3)
            except grpc.RpcError as e:
                return e.code(), detail_of(e)
            return None, None
        deadline = time.time() + 30
        while True:  # until Hanoi's channel reconnects into the silent port
            code, d = slow_call()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED or time.time() > deadline:
                break
        self.assertEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertIsNotNone(d, "Hanoi did not answer before the consumer's deadline")
        self.assertEqual(errors_pb2.ReasonCode.Name(d.reason), "REASON_PEER_UNAVAILABLE")
        self.assertIn("did not answer in time", d.message)
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            stuck = [pool.submit(slow_call) for _ in range(32)]
            code, d = self.refused(lambda: self.consumer.call(timeout=10))  # no fields
            self.assertEqual(code, grpc.StatusCode.PERMISSION_DENIED)
            for f in stuck:
                self.assertEqual(f.result()[0], grpc.StatusCode.DEADLINE_EXCEEDED)


if __name__ == "__main__":
    unittest.main()
