"""RFC 3161 time-stamps of signed tree heads (issue 28 item 4).

A throwaway time-stamping authority, made here with the openssl CLI, is
served over loopback HTTP by a small Python server that answers each
request with `openssl ts -reply`. The gateway (audit.timestamping, a 1 s
interval) stamps its tree heads; the tokens it exports in a bundle verify
with `openssl ts -verify` as docs/AUDIT.md says, and with dxctl and
docs/verify_bundle.py. Then the authority is stopped: exchanges are still
served, the failures counter rises, the lag gauge grows, and a real
Prometheus with deploy/prometheus/alerts.yml fires DxAuditTimestampLag."""
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(BUILD, "python"))
from dx.v1 import audit_pb2  # noqa: E402
from tests.harness import DevEnv, free_ports  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})? (\S+)$')

TSA_CNF = """\
[ tsa ]
default_tsa = tsa1
[ tsa1 ]
dir = {dir}
serial = $dir/serial
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256
accuracy = secs:1
ess_cert_id_alg = sha256
"""


def run(*argv, cwd=None):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True)


def make_authority(d):
    """A root CA and a time-stamping certificate under it (critical
    timeStamping usage, RFC 3161 2.3), and openssl ts's configuration."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=test-tsa-root", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("extendedKeyUsage=critical,timeStamping\nkeyUsage=critical,digitalSignature\n")
    run("openssl", "req", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=test-tsa",
        cwd=d)
    run("openssl", "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "tsa.pem", cwd=d)
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("01\n")
    with open(os.path.join(d, "tsa.cnf"), "w") as f:
        f.write(TSA_CNF.format(dir=d))


class Authority(http.server.BaseHTTPRequestHandler):
    """POST application/timestamp-query -> `openssl ts -reply`."""
    folder = None
    lock = threading.Lock()
    served = 0

    def do_POST(self):
        query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Type") != "application/timestamp-query":
            self.send_error(415)
            return
        with Authority.lock:
            q, r = os.path.join(self.folder, "q.der"), os.path.join(self.folder, "r.der")
            with open(q, "wb") as f:
                f.write(query)
            subprocess.run(["openssl", "ts", "-reply", "-config",
                            os.path.join(self.folder, "tsa.cnf"), "-queryfile", q, "-out", r],
                           capture_output=True, check=True)
            with open(r, "rb") as f:
                reply = f.read()
            Authority.served += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


class TimestampTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-tsa-")
        cls.tsa = os.path.join(cls.tmp.name, "tsa")
        os.makedirs(cls.tsa)
        make_authority(cls.tsa)
        Authority.folder = cls.tsa
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Authority)
        cls.server_thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.server_thread.start()
        cls.server_up = True
        url = f"http://127.0.0.1:{cls.server.server_address[1]}/tsa"
        cls.env = DevEnv(
            os.path.join(cls.tmp.name, "env"), BUILD, population=50, business=10,
            gateway_settings={
                "metrics": "{listen_address: '127.0.0.1:0', port_file: metrics.port}",
                "audit": "{tree_head_interval_ms: 200, timestamping: {url: '" + url +
                         "', ca_file: " + os.path.join(cls.tsa, "ca.pem") +
                         ", interval_seconds: 1, timeout_ms: 2000}}"}).setup()
        cls.env.start()
        path = os.path.join(cls.env.root, "metrics.port")
        deadline = time.time() + 20
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.05)
        with open(path) as f:
            cls.metrics_port = int(f.read())
        cls.prometheus = None

    @classmethod
    def tearDownClass(cls):
        if cls.prometheus is not None:
            cls.prometheus.terminate()
            try:
                cls.prometheus.wait(20)
            except subprocess.TimeoutExpired:
                cls.prometheus.kill()
        cls.env.close()
        cls.stop_authority()
        cls.tmp.cleanup()

    @classmethod
    def stop_authority(cls):
        if cls.server_up:
            cls.server.shutdown()
            cls.server.server_close()
            cls.server_up = False

    def scrape(self):
        _, text = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        out = {}
        for line in text.splitlines():
            m = SAMPLE.match(line)
            if m and not line.startswith("#"):
                out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
        return out

    def wait_for(self, check, what, timeout=60):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                got = check()
                if got:
                    return got
            except Exception as e:  # not there yet
                last = e
            time.sleep(0.2)
        self.fail(f"{what}: not seen within {timeout}s (last: {last}); "
                  f"gateway log: {self.env.log('gateway')[-2000:]}")

    def served(self):
        r = self.env.call("000.00.00.H30", "hotich", "bca.population", "civil-registration",
                          "--query", "citizen_id=001000000000")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def openssl_verify(self, folder, signature, token):
        """docs/AUDIT.md's command: the token stamps SHA-256(signature)."""
        sig, tok = os.path.join(folder, "sth.sig"), os.path.join(folder, "token.tsr")
        with open(sig, "wb") as f:
            f.write(signature)
        with open(tok, "wb") as f:
            f.write(token)
        return subprocess.run(["openssl", "ts", "-verify", "-data", sig, "-in", tok, "-token_in",
                               "-CAfile", os.path.join(self.tsa, "ca.pem")],
                              capture_output=True, text=True)

    def test_a_heads_are_stamped_and_the_tokens_verify_with_openssl(self):
        self.served()
        self.wait_for(lambda: self.scrape().get("dx_audit_timestamps_total", 0) >= 1,
                      "a verified stamp")
        self.assertGreaterEqual(Authority.served, 1)
        d = os.path.join(self.tmp.name, "export")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "bundle.pb")
        r = self.env.auditor("export", "--out", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(path, "rb") as f:
            bundle = audit_pb2.AuditBundle.FromString(f.read())
        self.assertEqual(len(bundle.timestamps), 1, bundle.timestamps)
        stamp = bundle.timestamps[0]
        self.assertGreater(stamp.tree_head.tree_size, 0)
        self.assertLessEqual(stamp.tree_head.tree_size, bundle.tree_head.tree_size)
        # The independent checker, exactly as documented.
        v = self.openssl_verify(d, stamp.tree_head.signature, stamp.token)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertIn("Verification: OK", v.stdout)
        # ... and it stamps that head's signature, nothing else.
        v = self.openssl_verify(d, stamp.tree_head.signature + b"x", stamp.token)
        self.assertNotEqual(v.returncode, 0, v.stdout)
        # dxctl and the standalone script check the same.
        root = os.path.join(self.env.pki, "root-ca.pem")
        tsa_ca = os.path.join(self.tsa, "ca.pem")
        r = self.env.dxctl("audit", "verify-bundle", path, "--ca", root, "--tsa-ca", tsa_ca)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"VERIFIED  the tree head of size {stamp.tree_head.tree_size} existed at",
                      r.stdout)
        r = subprocess.run([sys.executable, os.path.join(REPO, "docs", "verify_bundle.py"),
                            path, "--ca", root, "--tsa-ca", tsa_ca],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("is time-stamped", r.stdout)
        # Under other roots (the gateway's own CA), the token is refused.
        r = self.env.dxctl("audit", "verify-bundle", path, "--ca", root, "--tsa-ca", root)
        self.assertEqual(r.returncode, 3, r.stdout)
        # A changed token (a byte of the imprint it signs) is refused by both.
        token = bytearray(stamp.token)
        at = token.find(hashlib.sha256(stamp.tree_head.signature).digest())
        self.assertGreater(at, 0)
        token[at] ^= 0x01
        bundle.timestamps[0].token = bytes(token)
        with open(path, "wb") as f:
            f.write(bundle.SerializeToString())
        r = self.env.dxctl("audit", "verify-bundle", path, "--ca", root, "--tsa-ca", tsa_ca)
        self.assertEqual(r.returncode, 3, r.stdout)
        self.assertIn("FAILED  time-stamp of the tree head", r.stdout)
        r = subprocess.run([sys.executable, os.path.join(REPO, "docs", "verify_bundle.py"),
                            path, "--ca", root, "--tsa-ca", tsa_ca],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)

    def test_b_a_stopped_authority_never_blocks_exchanges(self):
        self.start_prometheus()
        self.served()
        self.wait_for(lambda: self.scrape().get("dx_audit_timestamps_total", 0) >= 1,
                      "a verified stamp")
        before = self.scrape()
        self.stop_authority()
        for _ in range(3):
            self.served()  # no authority: exchanges are served all the same
        self.wait_for(lambda: self.scrape()["dx_audit_timestamp_failures_total"]
                      > before["dx_audit_timestamp_failures_total"], "a counted failure")
        first = self.wait_for(lambda: self.scrape()["dx_audit_timestamp_lag_seconds"] or None,
                              "a lag")
        self.wait_for(lambda: self.scrape()["dx_audit_timestamp_lag_seconds"] > first,
                      "the lag growing")
        self.served()

        def firing():
            _, body = http_get(self.prom + "/api/v1/alerts")
            return [a for a in json.loads(body)["data"]["alerts"]
                    if a["labels"]["alertname"] == "DxAuditTimestampLag"
                    and a["state"] == "firing"]
        self.assertTrue(self.wait_for(firing, "DxAuditTimestampLag firing"))
        self.assertTrue(self.scrape()["dx_serving"] == 1)

    def start_prometheus(self):
        port, = free_ports(1)
        folder = os.path.join(self.env.root, "prometheus")
        os.makedirs(folder, exist_ok=True)
        shutil.copy(os.path.join(REPO, "deploy", "prometheus", "alerts.yml"), folder)
        config = os.path.join(folder, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""\
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [alerts.yml]
scrape_configs:
  - job_name: dxgate
    static_configs: [{{targets: ["127.0.0.1:{self.metrics_port}"]}}]
""")
        log = open(os.path.join(self.env.root, "logs", "prometheus.log"), "ab")
        type(self).prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(folder, 'data')}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
        self.prom = f"http://127.0.0.1:{port}"
        self.wait_for(lambda: http_get(self.prom + "/-/ready")[0] == 200, "Prometheus ready")


if __name__ == "__main__":
    unittest.main()
