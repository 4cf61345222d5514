"""The Python example client (examples/python/dx_client.py) against a live
gateway: any language can be an agency."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
from tests.harness import DevEnv  # noqa: E402

BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-py-")
        cls.env = DevEnv(cls.tmp.name, BUILD, population=500, business=100).setup().start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.tmp.cleanup()

    def run_client(self, *extra):
        return subprocess.run(
            ["/usr/bin/python3", os.path.join(REPO, "examples/python/dx_client.py"),
             "--gateway", self.env.gateway, "--pki", self.env.pki,
             "--agency", "000.00.00.H30", "--system", "hotich",
             "--dataset", "bca.population", "--purpose", "civil-registration",
             "--json", *extra],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": os.path.join(BUILD, "python")})

    def test_allowed_answer_is_verified_by_python(self):
        r = self.run_client("--query", "citizen_id=001000000000")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertTrue(out["verified"])
        self.assertEqual(out["records"][0]["citizen_id"], "001000000000")
        self.assertNotIn("ethnicity", out["records"][0])
        self.assertEqual(out["receipt"]["nodeId"], "gw1")

    def test_refusal_detail_is_readable_from_python(self):
        r = self.run_client("--field", "address")
        self.assertEqual(r.returncode, 1, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["status"], "PERMISSION_DENIED")
        self.assertEqual(out["reason"], "REASON_POLICY_DENIED")
        self.assertIn("Law on Data 2024", out["legal_basis"])
        # The refusal itself is in the audit log, under the receipt's number.
        seqs = [int(x.get("sequence_number", 0)) for x in self.env.audit_records()
                if x["decision"] == "DECISION_DENY"]
        self.assertIn(out.get("audit_sequence_number", 0), seqs)


if __name__ == "__main__":
    unittest.main()
