"""The witness served and kept (issue 27, item 4; docs/FEDERATION.md).

One dxgate node witnesses peer logs over HTTPS (c2sp.org/tlog-witness
POST /add-checkpoint). The peer log is played by this test: its ECDSA P-256
key is made here with Python `cryptography`, its checkpoints are C2SP signed
notes built and signed here from a Merkle tree of this test's own, with
RFC 6962 consistency proofs computed here (and checked with the
independent verifier tests/e2e/rfc6962.py before they are sent). The
cosignatures the node returns are checked by the independent checker
witness/testdata/check_cosigned_checkpoint.py (openssl verifies).

Each test uses its own log origin, so that they do not depend on each
other's order. One deployment for the class: the node is SIGKILLed and
restarted once, in test_a_restarted_witness_holds_the_size."""
import base64
import hashlib
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
from tests.harness import DevEnv  # noqa: E402
from tests.e2e import rfc6962  # noqa: E402

CHECKER = os.path.join(REPO, "witness", "testdata", "check_cosigned_checkpoint.py")
WITNESS_NAME = "hub.dxgate.example/witness"
ORIGINS = {name: f"{name}.dxgate.example/audit"
           for name in ("grow", "restart", "rewrite", "bad", "metrics")}


# ----------------------------------------------------------- the peer log --
def consistency_proof(m, leaves):
    """RFC 6962 section 2.1.2 PROOF(m, D[n]) over leaf hashes."""
    def subproof(m, d, complete):
        n = len(d)
        if m == n:
            return [] if complete else [rfc6962.root(d)]
        k = 1
        while k * 2 < n:
            k *= 2
        if m <= k:
            return subproof(m, d[:k], complete) + [rfc6962.root(d[k:])]
        return subproof(m - k, d[k:], False) + [rfc6962.root(d[:k])]
    return subproof(m, leaves, True)


class PeerLog:
    """A log of numbered leaves, signing C2SP checkpoints with a P-256 key."""

    def __init__(self, origin, key, salt=""):
        self.origin = origin
        self.key = key
        self.salt = salt
        self.leaves = []

    def grow(self, n):
        for _ in range(n):
            self.leaves.append(rfc6962.leaf_hash(
                f"{self.salt}leaf {len(self.leaves)}".encode()))
        return self

    def checkpoint(self):
        root = rfc6962.root(self.leaves)
        text = f"{self.origin}\n{len(self.leaves)}\n{base64.b64encode(root).decode()}\n"
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        key_id = hashlib.sha256(spki).digest()[:4]
        sig = self.key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
        # ECDSA signatures are randomised: keep the one last made.
        self.last = text + "\n" + f"\u2014 {self.origin} {base64.b64encode(key_id + sig).decode()}\n"
        return self.last

    def request(self, old_size, proof=None):
        if proof is None:
            proof = consistency_proof(old_size, self.leaves) if 0 < old_size else []
            if 0 < old_size < len(self.leaves):
                old_root = rfc6962.root(self.leaves[:old_size])
                assert rfc6962.verify_consistency(old_size, len(self.leaves), old_root,
                                                  rfc6962.root(self.leaves), proof)
        lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
        return f"old {old_size}\n{lines}\n{self.checkpoint()}".encode()


# ----------------------------------------------------------------- HTTPS --
def https(port, method, path, body=b"", timeout=10, source="127.0.0.1"):
    """(status, content type, body) of one request from `source`; the
    node's certificate is checked against the dev PKI's root."""
    ctx = ssl.create_default_context(cafile=WitnessTest.ca_file)
    ctx.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx,
                                       source_address=(source, 0))
    try:
        conn.request(method, path, body=body or None)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read().decode()
    finally:
        conn.close()


def tls_socket(port, timeout=10):
    ctx = ssl.create_default_context(cafile=WitnessTest.ca_file)
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw)


class WitnessTest(unittest.TestCase):
    ca_file = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-witness-")
        root = cls.tmp.name
        cls.log_key = ec.generate_private_key(ec.SECP256R1())
        with open(os.path.join(root, "peer-log.pem"), "wb") as f:
            f.write(cls.log_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out",
                        os.path.join(root, "witness.key")], check=True)
        raw = subprocess.run(["openssl", "pkey", "-in", os.path.join(root, "witness.key"),
                              "-pubout", "-outform", "DER"], check=True,
                             capture_output=True).stdout
        cls.witness_pub_b64 = base64.b64encode(raw[-32:]).decode()
        logs = ", ".join(f"{{origin: '{o}', public_key_files: [peer-log.pem]}}"
                         for o in ORIGINS.values())
        # A second node, gw2, whose own log the first witnesses (started by
        # test_a_second_node_submits_its_own_log): its log key is its
        # signing certificate's.
        os.makedirs(os.path.join(root, "pki"), exist_ok=True)
        logs += ", {origin: 'gw2/audit', public_key_files: [pki/gateways/gw2/sign.pem]}"
        cls.env = DevEnv(root, BUILD, population=10, business=10, gateway_settings={
            "metrics": "{listen_address: '127.0.0.1:0', port_file: metrics.port}",
            "witness": (f"{{listen_address: '127.0.0.1:0', port_file: witness.port, "
                        f"key_file: witness.key, name: '{WITNESS_NAME}', "
                        f"path_prefix: /w, logs: [{logs}]}}"),
        }).setup()
        cls.env.pki_cmd("gateway", "gw2", "365")
        cls.ca_file = os.path.join(cls.env.pki, "root-ca.pem")
        cls.start_node()

    @classmethod
    def start_node(cls):
        for name in ("witness.port", "metrics.port"):
            path = os.path.join(cls.env.root, name)
            if os.path.exists(path):
                os.remove(path)
        cls.env.start_gateway()
        cls.port = cls.read_port("witness.port")
        cls.metrics_port = cls.read_port("metrics.port")

    @classmethod
    def read_port(cls, name):
        path = os.path.join(cls.env.root, name)
        deadline = time.time() + 30
        while not os.path.exists(path):
            if time.time() > deadline:
                raise RuntimeError(f"{name} not written: {cls.env.log('gateway')}")
            time.sleep(0.05)
        with open(path) as f:
            return int(f.read())

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.tmp.cleanup()

    def add(self, body):
        return https(self.port, "POST", "/w/add-checkpoint", body)

    def metric(self, name, **labels):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=10) as r:
            text = r.read().decode()
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def check_cosigned(self, note, origin):
        path = os.path.join(self.env.root, "cosigned.note")
        with open(path, "w", encoding="utf-8") as f:
            f.write(note)
        return subprocess.run(
            [sys.executable, CHECKER, path, origin, os.path.join(self.env.root, "peer-log.pem"),
             WITNESS_NAME, self.witness_pub_b64], capture_output=True, text=True)

    # ----------------------------------------------------------- cosigning --
    def test_cosigns_a_growing_log_over_https(self):
        log = PeerLog(ORIGINS["grow"], self.log_key).grow(7)
        status, _, body = self.add(log.request(0))
        self.assertEqual(status, 200, body)
        cosigned = log.checkpoint() + body
        checked = self.check_cosigned(cosigned, log.origin)
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        log.grow(9)
        status, _, body = self.add(log.request(7))
        self.assertEqual(status, 200, body)
        checked = self.check_cosigned(log.checkpoint() + body, log.origin)
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        # The checker is no rubber stamp: the first cosignature does not
        # cover the new checkpoint.
        first_line = cosigned.rsplit("\n\n", 1)[1].splitlines()[-1] + "\n"
        checked = self.check_cosigned(log.checkpoint() + first_line, log.origin)
        self.assertNotEqual(checked.returncode, 0)

    def test_a_restarted_witness_holds_the_size(self):
        log = PeerLog(ORIGINS["restart"], self.log_key).grow(12)
        status, _, body = self.add(log.request(0))
        self.assertEqual(status, 200, body)
        # No clean stop: the state must have been on disk before the 200.
        self.env.stop_gateway(signal.SIGKILL)
        type(self).start_node()
        fresh = PeerLog(ORIGINS["restart"], self.log_key, salt="other ").grow(20)
        status, content_type, body = self.add(fresh.request(0))
        self.assertEqual((status, content_type, body), (409, "text/x.tlog.size", "12\n"))
        # The log it knew still extends.
        log.grow(3)
        status, _, body = self.add(log.request(12))
        self.assertEqual(status, 200, body)

    # --------------------------------------------------- a rewritten log --
    def test_a_rewritten_log_is_refused_audited_and_counted(self):
        origin = ORIGINS["rewrite"]
        log = PeerLog(origin, self.log_key).grow(10)
        status, _, body = self.add(log.request(0))
        self.assertEqual(status, 200, body)
        cosigned_note = log.last
        before = self.metric("dx_witness_inconsistent_checkpoints_total", origin=origin)
        before_409 = self.metric("dx_witness_refusals_total", origin=origin, status="409")
        # The data dir replaced: the same size, another root.
        rewritten = PeerLog(origin, self.log_key, salt="rewritten ").grow(10)
        status, _, body = self.add(rewritten.request(10))
        self.assertEqual(status, 409, body)
        self.assertIn("rewritten", body)
        # And grown further: its own proof holds for its own history only.
        rewritten.grow(5)
        status, _, body = self.add(rewritten.request(10))
        self.assertEqual(status, 422, body)
        self.assertEqual(
            self.metric("dx_witness_inconsistent_checkpoints_total", origin=origin), before + 2)
        self.assertEqual(
            self.metric("dx_witness_refusals_total", origin=origin, status="409"),
            before_409 + 1)
        # Audited before answered, with both checkpoints as evidence.
        records = [r for r in self.env.audit_records()
                   if r.get("kind") == "RECORD_KIND_WITNESS_REFUSAL"
                   and r["witness_evidence"]["origin"] == origin]
        self.assertEqual(len(records), 2, records)
        same_size = next(r for r in records if r["status_code"] == 409)
        e = same_size["witness_evidence"]
        self.assertEqual(same_size["decision"], "DECISION_DENY")
        self.assertEqual(int(e["cosigned_size"]), 10)
        self.assertEqual(int(e["submitted_size"]), 10)
        self.assertEqual(base64.b64decode(e["cosigned_root"]), rfc6962.root(log.leaves))
        self.assertEqual(base64.b64decode(e["submitted_root"]),
                         rfc6962.root(rewritten.leaves[:10]))
        self.assertEqual(e["cosigned_note"], cosigned_note)
        grown = next(r for r in records if r["status_code"] == 422)["witness_evidence"]
        self.assertEqual(int(grown["submitted_size"]), 15)
        self.assertEqual(int(grown["submitted_old_size"]), 10)
        # The log's own signature on the refused note is the evidence:
        # it verifies with the log's key.
        text, sig_line = grown["submitted_note"].split("\n\n")
        sig = base64.b64decode(sig_line.split(" ")[2])[4:]
        self.log_key.public_key().verify(sig, (text + "\n").encode(),
                                         ec.ECDSA(hashes.SHA256()))
        # The log holding them still verifies (records and tree heads),
        # once a tree head is signed over them (within a second).
        deadline = time.time() + 30
        while True:
            r = self.env.auditor("verify")
            if r.returncode == 0 or time.time() > deadline:
                break
            self.assertIn("no signed tree head yet", r.stdout + r.stderr)
            time.sleep(0.2)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("VERIFIED", r.stdout)
        # Nothing refused moved the witness: the honest log extends.
        log.grow(2)
        status, _, body = self.add(log.request(10))
        self.assertEqual(status, 200, body)

    # ------------------------------------------------------ the submitter --
    def test_a_second_node_submits_its_own_log(self):
        # gw2 posts its latest tree head, as a checkpoint signed with its
        # log key, to this witness; the witness's vkey computed here from
        # its public key (tlog-cosignature's key ID rule).
        raw = base64.b64decode(self.witness_pub_b64)
        key_id = hashlib.sha256(WITNESS_NAME.encode() + b"\n\x04" + raw).digest()[:4]
        key_b64 = base64.b64encode(b"\x04" + raw).decode()
        vkey = f"{WITNESS_NAME}+{key_id.hex()}+{key_b64}"
        env = self.env
        config, port_file = env.gateway_config(
            "gw2", "gw2", None, "gw2-data", "pki/gateways/gw2",
            {"witness": (f"{{submit_interval_seconds: 1, peers: [{{url: "
                         f"'https://127.0.0.1:{self.port}/w', vkey: '{vkey}', "
                         f"ca_file: pki/root-ca.pem}}]}}")})
        env._spawn("gw2", [env.bin("dxgate"), "--config", config])
        try:
            env._wait_port("gw2", port_file)
            deadline = time.time() + 60
            cosigned = None
            while cosigned is None:
                m = re.search(r"witness submit: \S+ cosigned size (\d+)", env.log("gw2", 1 << 20))
                if m:
                    cosigned = int(m.group(1))
                elif time.time() > deadline:
                    self.fail(f"gw2's log was not cosigned: {env.log('gw2')}")
                else:
                    time.sleep(0.1)
            self.assertGreater(cosigned, 0)
        finally:
            env._stop("gw2")
        # The witness holds gw2's log at that size: a checkpoint of gw2's
        # signed here with its log key, from old size 0, gets 409 and it.
        with open(os.path.join(env.pki, "gateways", "gw2", "sign.key"), "rb") as f:
            gw2_key = serialization.load_pem_private_key(f.read(), None)
        probe = PeerLog("gw2/audit", gw2_key).grow(cosigned + 1)
        status, content_type, body = self.add(probe.request(0))
        self.assertEqual((status, content_type), (409, "text/x.tlog.size"), body)
        self.assertGreaterEqual(int(body), cosigned)

    # -------------------------------------------------------- the edge --
    def test_wrong_path_method_and_malformed_bodies(self):
        self.assertEqual(https(self.port, "POST", "/add-checkpoint", b"old 0\n\n")[0], 404)
        self.assertEqual(https(self.port, "GET", "/w/add-checkpoint/x")[0], 404)
        status, _, body = https(self.port, "GET", "/w/add-checkpoint")
        self.assertEqual(status, 405, body)
        self.assertEqual(https(self.port, "PUT", "/w/add-checkpoint", b"old 0\n\n")[0], 405)
        for bad in (b"", b"old 01\n\nx", b"new 0\n\n", b"old 0\n", b"old 0\n\nnot a note\n",
                    b"old 0\n%%%\n\n", b"\xff\xfe"):
            status, _, body = self.add(bad)
            self.assertEqual(status, 400, (bad, body))
        # A log it does not witness: 404; another key: 403.
        stranger = PeerLog("stranger.example/log", self.log_key).grow(3)
        self.assertEqual(self.add(stranger.request(0))[0], 404)
        forger = PeerLog(ORIGINS["bad"], ec.generate_private_key(ec.SECP256R1())).grow(3)
        self.assertEqual(self.add(forger.request(0))[0], 403)

    def test_an_oversize_body_is_refused_before_it_is_read(self):
        with tls_socket(self.port) as s:
            s.sendall(b"POST /w/add-checkpoint HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 1048576\r\n\r\n")
            # The answer comes without a byte of the body sent.
            head = s.recv(4096).decode(errors="replace")
        self.assertTrue(head.startswith("HTTP/1.1 413"), head)
        # Chunked: refused once past the limit, the rest not read.
        with tls_socket(self.port) as s:
            s.sendall(b"POST /w/add-checkpoint HTTP/1.1\r\nHost: x\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            # Two chunks of 16 KiB: past the limit, and small enough to sit
            # in the socket buffers whatever the server reads.
            chunk = b"4000\r\n" + b"a" * 0x4000 + b"\r\n"
            s.sendall(chunk + chunk)
            answer = s.recv(4096)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:200])

    def test_many_connections_do_not_starve_a_peer(self):
        # Idle TLS connections from one address, past the per-address limit:
        # the extra ones are closed, and a peer still gets its answer.
        held = []
        try:
            for _ in range(20):
                try:
                    held.append(tls_socket(self.port, timeout=5))
                except (ConnectionResetError, ssl.SSLError, OSError):
                    pass  # closed at once: over the limit
            # witness_port.cc's max_connections_per_address.
            self.assertLessEqual(len(held), 8)
            # Another peer (another address) is served meanwhile.
            log = PeerLog(ORIGINS["metrics"], self.log_key).grow(4)
            status, _, body = https(self.port, "POST", "/w/add-checkpoint",
                                    log.request(0), source="127.0.0.2")
            self.assertEqual(status, 200, body)
        finally:
            for s in held:
                s.close()



if __name__ == "__main__":
    unittest.main()
