"""Changes without a restart (issue: operations, item 4).

While 8 clients call: the registry file gains a dataset, which is served at
once, and zero exchanges fail; a broken registry is refused with its line
named, audited, and the old one keeps serving. The gateway's TLS and
signing certificates are rotated under load: zero failed exchanges, the
TLS port and the web console's then present the new certificate (read
with Python's ssl), the
answers verify with the new signing certificate (openssl CLI), and
`dxctl audit verify` checks the tree heads on both sides of the rotation,
each with its own certificate. SIGHUP reloads and does not stop the node."""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
from tests.harness import CONSOLE_SETTINGS, DevEnv  # noqa: E402

H30 = "000.00.00.H30"
NEW_DATASET = """
  - id: bca.provinces
    name: Provinces of residence (open data, added while serving)
    provider_agency: 000.00.00.G01
    category: open
    adapter: {address: "127.0.0.1:PORT", tls_server_name: localhost, timeout_ms: 3000}
    fields:
      - {name: province_code, type: string}
      - {name: province, type: string}
"""


def first_der(pem_file):
    """The first certificate of a PEM file (a chain), DER."""
    with open(pem_file) as f:
        text = f.read()
    end = "-----END CERTIFICATE-----"
    return ssl.PEM_cert_to_DER_cert(text[:text.index(end) + len(end)] + "\n")


def replace_atomically(path, data):
    """What an operator's deployment tool does: write aside, then rename."""
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class ReloadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-reload-")
        # The population adapter serves the dataset the registry gains later.
        cls.env = DevEnv(cls.tmp.name, BUILD, population=50, business=10,
                         adapter_settings="  - dataset_id: bca.provinces\n"
                                          "    path: data/population.csv\n",
                         gateway_settings={"console": CONSOLE_SETTINGS}).setup()
        cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.tmp.cleanup()

    def load(self, seconds):
        return subprocess.Popen(
            [self.env.bin("dxbench"), "--target", self.env.gateway, "--mode", "gateway",
             "--pki", self.env.pki, "--agency", H30, "--query", "citizen_id=001000000000",
             "--concurrency", "8", "--channels", "2", "--duration", str(seconds),
             "--warmup", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finished(self, load):
        out, err = load.communicate(timeout=180)
        self.assertEqual(load.returncode, 0, out + err)
        result = json.loads([x for x in out.splitlines() if x.startswith("{")][-1])
        self.assertGreater(result["ok"], 0)
        self.assertEqual(result["errors"], {}, result)
        return result

    def wait_log(self, text, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.env.log("gateway"):
                return
            time.sleep(0.1)
        self.fail(f"'{text}' not in the gateway's log: {self.env.log('gateway')}")

    def admin_records(self, action):
        r = self.env.auditor("query", "--format", "jsonl", "--limit", "100000")
        return [json.loads(x) for x in r.stdout.splitlines()
                if x.startswith("{") and f'"{action}"' in x]

    def test_1_registry_changes_while_8_clients_call(self):
        registry = os.path.join(self.env.root, "registry.yaml")
        r = self.env.call(H30, "hotich", "bca.provinces", "statistics")
        self.assertNotEqual(r.returncode, 0, "not in the registry yet")
        load = self.load(6)
        time.sleep(1)
        port = self.env.adapter_ports["000.00.00.G01"]
        text = self.env.registry_text(NEW_DATASET.replace("PORT", str(port)))
        replace_atomically(registry, text.encode())
        self.wait_log("registry reloaded")
        r = self.env.call(H30, "hotich", "bca.provinces", "statistics", "--max-records", "3")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.finished(load)
        applied = self.admin_records("registry.reload")
        self.assertTrue(any("dataset bca.provinces added" in json.dumps(x) for x in applied))

        # A broken file: refused, its line named, audited; the registry in
        # force (with the new dataset) stays, under load.
        load = self.load(4)
        broken = text.replace("    category: open", "    category: open\n    catgory: typo")
        replace_atomically(registry, broken.encode())
        self.wait_log("registry NOT reloaded")
        line = next(i + 1 for i, x in enumerate(broken.splitlines()) if "catgory" in x)
        self.assertIn(f"registry.yaml:{line}", self.env.log("gateway"))
        r = self.env.call(H30, "hotich", "bca.provinces", "statistics", "--max-records", "1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.finished(load)
        refused = self.admin_records("registry.reload-refused")
        self.assertTrue(refused and f"registry.yaml:{line}" in json.dumps(refused[-1]))

        # Fixed again: read (at the watch or a SIGHUP, whichever is first).
        # Then a SIGHUP with nothing changed, and the node goes on.
        reloads = self.env.log("gateway").count("registry reloaded")
        replace_atomically(registry, text.encode())
        self.env.procs["gateway"].send_signal(signal.SIGHUP)
        deadline = time.time() + 30
        while self.env.log("gateway").count("registry reloaded") == reloads:
            self.assertLess(time.time(), deadline, self.env.log("gateway"))
            time.sleep(0.1)
        self.env.procs["gateway"].send_signal(signal.SIGHUP)
        self.wait_log("SIGHUP: no watched file changed")
        self.assertIsNone(self.env.procs["gateway"].poll())
        r = self.env.call(H30, "hotich", "bca.population", "civil-registration",
                          "--query", "citizen_id=001000000000")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def served_tls_certificate(self, cafile=None):
        ctx = ssl.create_default_context(
            cafile=cafile or os.path.join(self.env.pki, "root-ca.pem"))
        ctx.check_hostname = False
        agency = os.path.join(self.env.pki, "agencies", H30)
        ctx.load_cert_chain(os.path.join(agency, "tls.pem"), os.path.join(agency, "tls.key"))
        ctx.set_alpn_protocols(["h2"])
        with socket.create_connection(("127.0.0.1", self.env.gateway_port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                return t.getpeercert(binary_form=True)

    def served_console_certificate(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.env.pki, "root-ca.pem"))
        ctx.check_hostname = False
        port = int(self.env.console_url().rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                return t.getpeercert(binary_form=True)

    def test_2_certificates_rotate_under_load(self):
        pki = self.env.pki
        before_tls = self.served_tls_certificate()
        self.assertEqual(self.served_console_certificate(), before_tls)
        self.env.pki_cmd("gateway", "gw1")  # new keys and certificates
        new = os.path.join(pki, "gateways", "gw1")
        load = self.load(8)
        time.sleep(1.5)
        for name in ("tls.key", "tls.pem", "sign.key", "sign.pem"):
            with open(os.path.join(new, name), "rb") as f:
                replace_atomically(os.path.join(pki, "gateway", name), f.read())
        self.wait_log("TLS certificate reloaded")
        self.wait_log("signing key reloaded")
        self.finished(load)  # zero failed exchanges across the rotation

        new_tls = first_der(os.path.join(new, "tls.pem"))
        deadline = time.time() + 10  # gRPC re-reads its copy every second
        while self.served_tls_certificate() != new_tls and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.served_tls_certificate(), new_tls)
        self.assertNotEqual(before_tls, new_tls)
        # The console's next handshake presents it too (set in the reload).
        self.assertEqual(self.served_console_certificate(), new_tls)

        with tempfile.TemporaryDirectory() as d:
            r = self.env.call(H30, "hotich", "bca.population", "civil-registration",
                              "--query", "citizen_id=001000000000", "--save-dir", d)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(first_der(os.path.join(d, "response.signer.pem")),
                             first_der(os.path.join(new, "sign.pem")))
            v = subprocess.run(
                ["openssl", "dgst", "-sha256", "-verify", f"{d}/response.pub.pem",
                 "-signature", f"{d}/response.sig.der", f"{d}/response.envelope.bin"],
                capture_output=True, text=True)
            self.assertEqual(v.stdout.strip(), "Verified OK", v.stderr)

        # Tree heads before and after, each with its own certificate.
        time.sleep(1.5)  # one more tree head under the new key
        r = self.env.auditor("verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("VERIFIED", r.stdout)
        self.assertIn("signed by 2 log certificates", r.stdout)
        reloads = self.admin_records("gateway.reload")
        self.assertTrue(any("signing key" in json.dumps(x) for x in reloads))
        self.assertTrue(any("TLS certificate" in json.dumps(x) for x in reloads))

    def test_3_a_certificate_of_another_node_is_refused(self):
        self.env.pki_cmd("gateway", "gw9")
        other = os.path.join(self.env.pki, "gateways", "gw9")
        console_before = self.served_console_certificate()
        saved = {}
        for name in ("sign.key", "sign.pem", "tls.key", "tls.pem"):
            path = os.path.join(self.env.pki, "gateway", name)
            with open(path, "rb") as f:
                saved[name] = f.read()
            with open(os.path.join(other, name), "rb") as f:
                replace_atomically(path, f.read())
        try:
            self.wait_log("signing key NOT reloaded")
            self.wait_log("TLS certificate NOT reloaded")
            self.assertIn("not this node's", self.env.log("gateway"))
            # Neither port took the other node's pair.
            self.assertEqual(self.served_console_certificate(), console_before)
            self.assertEqual(self.served_tls_certificate(), console_before)
            r = self.env.call(H30, "hotich", "bca.population", "civil-registration",
                              "--query", "citizen_id=001000000000")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            refused = json.dumps(self.admin_records("gateway.reload-refused"))
            self.assertIn("signing key", refused)
            self.assertIn("TLS certificate", refused)
        finally:
            for name, data in saved.items():
                replace_atomically(os.path.join(self.env.pki, "gateway", name), data)

    def test_4_broken_trust_anchors_are_refused_and_the_old_stay(self):
        path = os.path.join(self.env.pki, "root-ca.pem")
        with open(path, "rb") as f:
            good = f.read()
        client_ca = os.path.join(self.env.root, "client-root-ca.pem")
        with open(client_ca, "wb") as f:
            f.write(good)
        self.env.pki_cmd("gateway", "gw1")  # a renewed TLS pair, for below
        renewed = os.path.join(self.env.pki, "gateways", "gw1")
        replace_atomically(path, b"-----BEGIN CERTIFICATE-----\nnot base64\n"
                                 b"-----END CERTIFICATE-----\n")
        try:
            self.wait_log("trust anchors NOT reloaded")
            r = self.env.call(H30, "hotich", "bca.population", "civil-registration",
                              "--query", "citizen_id=001000000000", "--ca", client_ca)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            # The TLS pair renewed while the broken anchors sit in the file:
            # the TLS port and the channels to adapters get it with the
            # anchors in force, not with the file's broken ones.
            reloads = self.env.log("gateway").count("TLS certificate reloaded")
            for name in ("tls.key", "tls.pem"):
                with open(os.path.join(renewed, name), "rb") as f:
                    replace_atomically(os.path.join(self.env.pki, "gateway", name), f.read())
            deadline = time.time() + 30
            while (self.env.log("gateway").count("TLS certificate reloaded") == reloads
                   and time.time() < deadline):
                time.sleep(0.1)
            new_tls = first_der(os.path.join(renewed, "tls.pem"))
            deadline = time.time() + 10  # gRPC re-reads its copy every second
            while self.served_tls_certificate(client_ca) != new_tls and time.time() < deadline:
                time.sleep(0.2)
            self.assertEqual(self.served_tls_certificate(client_ca), new_tls)
            r = self.env.call(H30, "hotich", "bca.population", "civil-registration",
                              "--query", "citizen_id=001000000000", "--ca", client_ca)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            replace_atomically(path, good)
        self.wait_log("trust anchors reloaded")
        refused = self.admin_records("gateway.reload-refused")
        self.assertTrue(any("trust anchors" in json.dumps(x) for x in refused))


if __name__ == "__main__":
    unittest.main()
