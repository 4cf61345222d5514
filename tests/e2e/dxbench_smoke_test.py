"""A smoke run of dxbench (the load generator of `make bench`): a few hundred
calls through the gateway and directly to the adapter must all succeed, so
the benchmark tool cannot rot unnoticed. Figures are not checked here."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
from tests.harness import DevEnv  # noqa: E402


class DxbenchSmokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-bench-smoke-")
        cls.env = DevEnv(cls.tmp.name, BUILD, population=3000, business=100).setup().start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.tmp.cleanup()

    def dxbench(self, target, mode, *extra, one_citizen=True):
        query = ["--query", "citizen_id=001000000000"] if one_citizen else []
        out = subprocess.run(
            [os.path.join(BUILD, "bench", "dxbench"), "--target", target, "--mode", mode,
             "--pki", self.env.pki, *query, *extra],
            capture_output=True, text=True, timeout=120)
        result = json.loads([x for x in out.stdout.splitlines() if x.startswith("{")][-1])
        return out.returncode, result, out.stdout + out.stderr

    def test_unary_through_gateway_and_direct(self):
        rc, r, text = self.dxbench(self.env.gateway, "gateway", "--requests", "300",
                                   "--concurrency", "16")
        self.assertEqual(rc, 0, text)
        self.assertEqual(r["ok"], 300)
        self.assertEqual(r["errors"], {})
        self.assertGreater(r["p50_us"], 0)
        adapter = f"127.0.0.1:{self.env.adapter_ports['000.00.00.G01']}"
        rc, r, text = self.dxbench(adapter, "direct", "--requests", "300", "--concurrency", "16")
        self.assertEqual(rc, 0, text)
        self.assertEqual(r["records"], 300)  # one record per call

    def test_stream_counts_every_record(self):
        rc, r, text = self.dxbench(self.env.gateway, "gateway", "--stream", "--requests", "2",
                                   "--max-records", "2500", one_citizen=False)
        self.assertEqual(rc, 0, text)
        self.assertEqual(r["records"], 5000)

    def test_failures_are_reported_as_failures(self):
        # A dataset nobody may read: every call is refused, and the run fails.
        # (No citizen_id key: mof.business does not declare it, and the
        # gateway would refuse the key before the policy.)
        rc, r, _ = self.dxbench(self.env.gateway, "gateway", "--requests", "20",
                                "--dataset", "mof.business", "--purpose", "nothing",
                                one_citizen=False)
        self.assertEqual(rc, 1)
        self.assertEqual(r["ok"], 0)
        self.assertEqual(r["errors"].get("PERMISSION_DENIED"), 20)


if __name__ == "__main__":
    unittest.main()
