"""dxctl federation verify-anchor, as an operator runs it: an anchor written
by hand, signed with the openssl CLI, checked by dxctl; a changed byte, an
older serial and a claim on another platform's agencies are refused with
the exit status the help gives (3 not verified, 1 another check failed).

Run by ctest (make test), or:
DX_BUILD_DIR=build /usr/bin/python3 tests/federation_anchor_cli_test.py
"""
import datetime
import os
import subprocess
import tempfile
import unittest

BUILD = os.path.abspath(os.environ.get("DX_BUILD_DIR", "build"))
DXCTL = os.path.join(BUILD, "cli", "dxctl")


def sh(cmd, cwd):
    subprocess.run(cmd, shell=True, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class FederationAnchorCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-anchor-")
        d = cls.dir = cls.tmp.name
        for name, ca in (("op", False), ("root-bca", True), ("root-hn", True)):
            ext = "-addext basicConstraints=critical,CA:TRUE" if ca else ""
            sh(f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
               f"-keyout {name}.key -out {name}.pem -days 30 -subj /CN={name} {ext}", d)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def anchor(self, serial=3, hanoi_agencies='["H30."]'):
        now = datetime.datetime.now(datetime.timezone.utc)
        fmt = "%Y-%m-%dT%H:%M:%SZ"

        def pem(name):
            with open(os.path.join(self.dir, name + ".pem")) as f:
                return "|\n        " + f.read().strip().replace("\n", "\n        ")
        return f"""platform_id: vn.ndxp.hub
serial: {serial}
issued_at: "{(now - datetime.timedelta(days=1)).strftime(fmt)}"
expires_at: "{(now + datetime.timedelta(days=20)).strftime(fmt)}"
platforms:
  - platform_id: vn.gov.bca
    display_name: Ministry of Public Security
    root_certificates_pem:
      - {pem("root-bca")}
    gateways: [{{address: "bca.example:7443", tls_name: bca.example}}]
    agencies: ["000.00.00.G01"]
    datasets: [bca.population]
  - platform_id: vn.gov.hanoi
    root_certificates_pem:
      - {pem("root-hn")}
    agencies: {hanoi_agencies}
"""

    def write_and_sign(self, text, name="anchor.yaml"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        sh(f"openssl dgst -sha256 -sign op.key -out {name}.sig {name}", self.dir)
        return path

    def verify(self, path, *extra, sig=None):
        return subprocess.run(
            [DXCTL, "federation", "verify-anchor", path, "--signature", sig or path + ".sig",
             "--operator-cert", os.path.join(self.dir, "op.pem"), *extra],
            capture_output=True, text=True, timeout=60)

    def test_a_valid_anchor_is_printed_with_what_it_vouches_for(self):
        path = self.write_and_sign(self.anchor())
        out = self.verify(path, "--platform", "vn.ndxp.hub")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("anchor of vn.ndxp.hub, serial 3", out.stdout)
        self.assertIn("platform vn.gov.bca (Ministry of Public Security)", out.stdout)
        self.assertIn("CN = root-bca", out.stdout.replace("/CN=", "CN = "))
        self.assertIn("gateway bca.example:7443", out.stdout)
        self.assertIn("agencies H30.", out.stdout)
        # The fingerprint printed is the certificate's, as openssl computes it.
        fp = subprocess.run(["openssl", "x509", "-in", os.path.join(self.dir, "root-bca.pem"),
                             "-noout", "-fingerprint", "-sha256"],
                            capture_output=True, text=True, check=True).stdout
        self.assertIn(fp.split("=")[1].strip().replace(":", "").lower(), out.stdout)

    def test_a_changed_byte_is_not_verified(self):
        path = self.write_and_sign(self.anchor(), "changed.yaml")
        with open(path, "r+") as f:
            text = f.read().replace('["H30."]', '["H31."]')
            f.seek(0)
            f.write(text)
        out = self.verify(path)
        self.assertEqual(out.returncode, 3, out.stdout + out.stderr)
        self.assertIn("signature does not verify", out.stderr)
        self.assertNotIn("platform vn.gov", out.stdout)

    def test_an_older_serial_and_a_claim_on_anothers_agencies_are_refused(self):
        path = self.write_and_sign(self.anchor(serial=3), "old.yaml")
        out = self.verify(path, "--min-serial", "4")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("serial 3 is older", out.stderr)
        path = self.write_and_sign(self.anchor(hanoi_agencies='["000.00.00."]'), "claim.yaml")
        out = self.verify(path)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("overlaps 000.00.00.G01 of vn.gov.bca", out.stderr)

    def test_usage_errors_say_what_to_give(self):
        out = subprocess.run([DXCTL, "federation", "verify-anchor", "x.yaml"],
                             capture_output=True, text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--signature", out.stderr)


if __name__ == "__main__":
    unittest.main()
