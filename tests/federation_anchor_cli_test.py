"""dxctl federation verify-anchor, as an operator runs it: an anchor written
by hand, signed with the openssl CLI, checked by dxctl; a changed byte, an
older serial and a claim on another platform's agencies are refused with
the exit status the help gives (3 not verified, 1 another check failed).

Run by ctest (make test), or:
DX_BUILD_DIR=build /usr/bin/python3 tests/federation_anchor_cli_test.py
"""
import os
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from tests.harness.anchors import AnchorMaker  # noqa: E402

BUILD = os.path.abspath(os.environ.get("DX_BUILD_DIR", "build"))
DXCTL = os.path.join(BUILD, "cli", "dxctl")


class FederationAnchorCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-anchor-")
        cls.dir = cls.tmp.name
        cls.maker = AnchorMaker(cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def anchor(self, **kw):
        return self.maker.anchor(**kw)

    def write_and_sign(self, text, name="anchor.yaml"):
        return self.maker.write_and_sign(text, name)

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
