"""The federation anchors a gateway holds (issue 27; docs/FEDERATION.md,
"Anchors in a gateway"). One dxgate node of the Hanoi platform imports the
hub operator's anchor, made and signed here with the openssl CLI
(tests/harness/anchors.py): it states the anchor in its start log, shows its
expiry in `dxctl status`; a newer anchor replaces it without a restart, an
older or a forged one is refused (audited, the one in force stays), and a
restart with an older anchor than the one held does not start the node.
One deployment for the class; the last test (z) restarts it."""
import json
import os
import signal
import sys
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
from tests.harness import DevEnv  # noqa: E402
from tests.harness.anchors import AnchorMaker  # noqa: E402

OPERATOR = "vn.ndxp.hub"


class FederationAnchorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-fed-")
        anchors = os.path.join(cls.tmp.name, "anchors")
        os.makedirs(anchors)
        cls.maker = AnchorMaker(anchors)
        cls.maker.write_and_sign(cls.maker.anchor(serial=3))
        settings = (f"{{platform_id: vn.gov.hanoi, anchors: [{{"
                    f"operator_platform_id: {OPERATOR}, "
                    f"anchor_file: {anchors}/anchor.yaml, "
                    f"signature_file: {anchors}/anchor.yaml.sig, "
                    f"operator_certificate_file: {anchors}/op.pem}}]}}")
        cls.env = DevEnv(cls.tmp.name, BUILD, population=20, business=10,
                         gateway_settings={"federation": settings}).setup()
        cls.env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.tmp.cleanup()

    def wait_log(self, text, count=1, timeout=30):
        deadline = time.time() + timeout
        while self.env.log("gateway", tail=1 << 20).count(text) < count:
            if time.time() > deadline:
                self.fail(f"'{text}' not in the gateway's log:\n"
                          f"{self.env.log('gateway')}")
            time.sleep(0.1)

    def admin_records(self, action):
        r = self.env.auditor("query", "--format", "jsonl", "--limit", "100000")
        return [json.loads(x) for x in r.stdout.splitlines()
                if x.startswith("{") and f'"{action}"' in x]

    def status(self):
        out = self.env.dxctl("status", "--gateway", self.env.gateway, "--pki",
                             self.env.pki, "--person", "ops1")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out.stdout

    def test_1_the_anchor_in_force_is_stated_and_its_expiry_shown(self):
        log = self.env.log("gateway", tail=1 << 20)
        self.assertIn(f"federation (platform vn.gov.hanoi): anchor of {OPERATOR}, serial 3",
                      log)
        self.assertIn("vn.gov.bca, vn.gov.hanoi", log)
        out = self.status()
        line = next((x for x in out.splitlines() if "federation anchor" in x), "")
        self.assertIn(OPERATOR, line, out)
        self.assertIn("(19 days)", line)  # expires in 20 days, less the hours gone
        self.assertIn("federation operator", out)

    def test_2_a_newer_anchor_replaces_it_and_older_or_forged_ones_are_refused(self):
        path = self.maker.path("anchor.yaml")
        reloaded = f"federation anchor of {OPERATOR} reloaded"
        refused = f"federation anchor of {OPERATOR} NOT reloaded"
        # Newer: taken at the watch, without a restart. (Its exact bytes
        # are kept: an operator's anchor file does not change under its
        # serial.)
        type(self).four = self.maker.anchor(serial=4)
        self.maker.write_and_sign(self.four)
        self.wait_log(reloaded)
        self.assertIn("serial 3 -> 4", self.env.log("gateway", tail=1 << 20))
        # Older: refused, audited; 4 stays.
        self.maker.write_and_sign(self.maker.anchor(serial=2))
        self.env.procs["gateway"].send_signal(signal.SIGHUP)
        self.wait_log(refused)
        self.assertIn("serial 2 is older", self.env.log("gateway", tail=1 << 20))
        # Forged: a byte changed after signing; refused before it is read.
        self.maker.write_and_sign(self.maker.anchor(serial=5))
        with open(path) as f:
            text = f.read()
        with open(path + ".next", "w") as f:
            f.write(text.replace('"H30."', '"H31."'))
        os.replace(path + ".next", path)
        self.env.procs["gateway"].send_signal(signal.SIGHUP)
        self.wait_log(refused, count=2)
        self.assertIn("signature does not verify", self.env.log("gateway", tail=1 << 20))
        # The same serial as the one in force, with other content: refused.
        self.maker.write_and_sign(self.maker.anchor(serial=4, hanoi_agencies='["H29."]'))
        self.env.procs["gateway"].send_signal(signal.SIGHUP)
        self.wait_log(refused, count=3)
        self.assertIn("must carry a higher serial", self.env.log("gateway", tail=1 << 20))
        recs = [json.dumps(r) for r in self.admin_records("gateway.reload-refused")]
        self.assertEqual(sum(f"federation anchor of {OPERATOR}" in r for r in recs), 3, recs)
        self.assertTrue(any("serial 3 -> 4" in json.dumps(r)
                            for r in self.admin_records("gateway.reload")))
        # Put back the anchor in force (serial 4) for the next test.
        self.maker.write_and_sign(self.four)

    def test_z_a_restart_with_an_older_anchor_does_not_start(self):
        self.env.stop_gateway()
        self.maker.write_and_sign(self.maker.anchor(serial=3))
        with self.assertRaises(RuntimeError):  # it exits, naming why
            self.env.start_gateway()
        log = self.env.log("gateway", tail=1 << 20)
        self.assertIn("serial 3 is older", log)
        self.env.procs.pop("gateway", None)
        # The operator's newest anchor: the node starts again.
        self.maker.write_and_sign(self.four)
        self.env.start_gateway()
        self.assertIn(f"anchor of {OPERATOR}, serial 4",
                      self.env.log("gateway", tail=1 << 20))


if __name__ == "__main__":
    unittest.main()
