"""What an operator expects of the binaries (issue: operations, item 7):
`dxgate --version`, `dxgate --check-config FILE` (exit 0, or every problem
with where it is), and `dxctl status` saying how the node is: its last
signed tree head and when its certificates and CRL run out."""
import os
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
from tests.harness import DevEnv  # noqa: E402


class OperationsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-ops-")
        cls.env = DevEnv(cls.tmp.name, BUILD, population=50, business=10).setup().start()
        cls.config = os.path.join(cls.env.root, "gateway.yaml")
        with open(cls.config, encoding="utf-8") as f:
            cls.config_text = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.tmp.cleanup()

    def dxgate(self, *args):
        return subprocess.run([self.env.bin("dxgate"), *args], capture_output=True, text=True,
                              timeout=60)

    def variant(self, name, old, new, file="gateway.yaml"):
        """A copy of a file of the running deployment with one change."""
        with open(os.path.join(self.env.root, file), encoding="utf-8") as f:
            text = f.read()
        self.assertIn(old, text)
        path = os.path.join(self.env.root, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new, 1))
        return path

    def test_backup_under_load_restores_verifies_and_serves(self):
        out = os.path.join(self.env.root, "backup-1")
        load = subprocess.Popen(
            [self.env.bin("dxbench"), "--target", self.env.gateway, "--mode", "gateway",
             "--pki", self.env.pki, "--agency", "000.00.00.H30",
             "--query", "citizen_id=001000000000", "--concurrency", "4",
             "--rate", "200", "--duration", "6", "--warmup", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Once exchanges are flowing, back up while they go on.
            before = self.wait_records(50)
            r = self.env.dxctl("admin", "backup", "--gateway", self.env.gateway,
                               "--pki", self.env.pki, "--person", "ops1", "--out", out,
                               "--json")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            manifest = json.loads(r.stdout)
        finally:
            stdout, stderr = load.communicate(timeout=120)
        self.assertEqual(load.returncode, 0, stdout + stderr)
        result = json.loads([x for x in stdout.splitlines() if x.startswith("{")][-1])
        self.assertEqual(result["errors"], {}, result)
        self.assertGreater(result["ok"], 0)
        self.assertGreater(self.wait_records(0), int(manifest["audit_records"]),
                           "the load went on after the backup")
        self.assertGreaterEqual(int(manifest["audit_records"]), before)
        self.assertIn("tree_head", manifest, r.stdout)
        with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["tree_head"]["tree_size"],
                             manifest["tree_head"]["tree_size"])
        self.assertTrue(manifest["policy_included"])
        self.assertEqual(oct(os.stat(out).st_mode & 0o777), "0o700")
        # Not an auditor's to take, nor into a folder that exists.
        r = self.env.dxctl("admin", "backup", "--gateway", self.env.gateway, "--pki",
                           self.env.pki, "--person", "auditor1", "--out", out + "-x")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("PERMISSION_DENIED", r.stdout + r.stderr)
        self.assertFalse(os.path.exists(out + "-x"))
        r = self.env.dxctl("admin", "backup", "--gateway", self.env.gateway, "--pki",
                           self.env.pki, "--person", "ops1", "--out", out)
        self.assertIn("ALREADY_EXISTS", r.stdout + r.stderr)

        # The restore of docs/OPERATIONS.md, into a new data dir.
        restored = os.path.join(self.env.root, "restored-data")
        os.makedirs(restored)
        for part in ("state", "policy"):
            shutil.copytree(os.path.join(out, part), os.path.join(restored, part))
        shutil.copy2(os.path.join(out, "subject-hmac.key"), restored)
        r = self.env.dxctl("audit", "verify", "--data-dir", restored, "--pki", self.env.pki)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("VERIFIED", r.stdout)
        # A node on the restored data serves, and its log goes on from there.
        config, port_file = self.env.gateway_config(
            "restored", "gw1", 0, "restored-data", "pki/gateway", {})
        self.env._spawn("restored", [self.env.bin("dxgate"), "--config", config])
        port = self.env._wait_port("restored", port_file)
        try:
            r = self.env.call(gateway=f"127.0.0.1:{port}")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            self.env._stop("restored")
        r = self.env.dxctl("audit", "verify", "--data-dir", restored, "--pki", self.env.pki)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.env.dxctl("audit", "list", "--data-dir", restored, "--from",
                           str(manifest["audit_records"]), "--json")
        self.assertIn("gateway.start", r.stdout)
        # The backup itself is on the record of the node it was taken from.
        records = self.env.audit_records()
        backups = [x for x in records if "gateway.backup" in json.dumps(x)]
        self.assertTrue(backups and "operator:ops1" in json.dumps(backups[-1]), backups[-1:])

    def wait_records(self, at_least, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.env.dxctl("status", "--gateway", self.env.gateway, "--pki",
                               self.env.pki, "--person", "ops1", "--json")
            if r.returncode == 0:
                st = json.loads(r.stdout.splitlines()[0])
                n = int(st.get("audit_records", 0))
                # ... and a tree head signed over some of them.
                if n >= at_least and int(st.get("tree_head_size", 0)) > 0:
                    return n
            time.sleep(0.2)
        self.fail(f"fewer than {at_least} audit records after {timeout}s")

    def test_version(self):
        r = self.dxgate("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^dxgate \d+\.\d+\.\d+ \(\S+\)\n$")

    def test_check_config_accepts_what_runs(self):
        r = self.dxgate("--check-config", self.config)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(": OK (", r.stdout)
        # A query the policy now refuses is a warning, not an error.
        self.assertIn("grant h30-civil-registration does not let its consumers read the "
                      "field(s) that query key(s) ethnicity match", r.stdout)

    def test_check_config_names_a_misspelt_field_with_its_line(self):
        path = self.variant("typo.yaml", "adapter_timeout_ms:", "adaptor_timeout_ms:")
        line = next(i + 1 for i, x in enumerate(open(path, encoding="utf-8"))
                    if x.startswith("adaptor_timeout_ms"))
        r = self.dxgate("--check-config", path)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(f"typo.yaml:{line}", r.stdout)
        self.assertIn("adaptor_timeout_ms", r.stdout)

    def test_check_config_finds_a_key_that_is_not_the_certificates(self):
        path = self.variant("swapped.yaml", "key_file: pki/gateway/tls.key",
                            "key_file: pki/gateway/sign.key")
        r = self.dxgate("--check-config", path)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"error: tls: .*")
        self.assertIn("would not start", r.stdout)

    def test_check_config_finds_a_missing_crl_and_a_broken_policy(self):
        bad_policy = self.variant("policy-bad.yaml", "fields: [citizen_id, full_name, birth_date, sex,",
                                  "fields: [citizen_id, no_such_field, birth_date, sex,",
                                  file="policy.yaml")
        line = next(i + 1 for i, x in enumerate(open(bad_policy, encoding="utf-8"))
                    if "no_such_field" in x)
        path = self.variant("two-problems.yaml", "crl_files: [pki/crl.pem]",
                            "crl_files: [pki/no-such-crl.pem]")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("policy_file: policy.yaml", f"policy_file: {bad_policy}"))
        r = self.dxgate("--check-config", path)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("error: trust:", r.stdout)
        self.assertIn("no-such-crl.pem", r.stdout)
        self.assertRegex(r.stdout, rf"error: .*policy-bad\.yaml:{line}: .*no_such_field")

    def test_status_says_the_last_tree_head_and_when_certificates_run_out(self):
        deadline = time.time() + 10  # a tree head is signed within a second
        while True:
            r = self.env.dxctl("status", "--gateway", self.env.gateway, "--pki", self.env.pki,
                               "--person", "ops1")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            if "last signed tree head" in r.stdout or time.time() > deadline:
                break
            time.sleep(0.3)
        self.assertRegex(r.stdout, r"last signed tree head: \d+ records, .* ago")
        self.assertRegex(r.stdout, r"expires  \d{4}-\d\d-\d\d  \(\d+ days\)  gateway TLS  "
                                   r"gateway:gw1")
        self.assertRegex(r.stdout, r"expires  .*  signing  gateway:gw1")
        self.assertRegex(r.stdout, r"expires  .*  trust anchor  .*Root")
        self.assertRegex(r.stdout, r"next CRL due  \d{4}-\d\d-\d\d  \(\d+ days\)  CRL")
        self.assertNotIn("renew now", r.stdout)

    def test_dxctl_has_no_default_identity(self):
        """A command that needs an identity and is given none acts as nobody:
        a usage error (2) naming the flag and the variable, nothing sent. The
        development names are the demos' and the tests' choice, not dxctl's."""
        env = {k: v for k, v in os.environ.items() if k != "DXCTL_PERSON"}
        for args in (["status"], ["health"], ["admin", "backup", "--out", "/tmp/x"],
                     ["policy", "list"], ["registry", "get"], ["audit", "sth"],
                     ["audit", "query", "--cluster"]):
            r = subprocess.run([self.env.bin("dxctl"), *args, "--gateway", self.env.gateway,
                                "--pki", self.env.pki], capture_output=True, text=True,
                               env=env, timeout=30)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stdout}{r.stderr}")
            self.assertIn("--person NAME", r.stderr, args)
            self.assertIn("DXCTL_PERSON", r.stderr, args)
        # The variable names the person instead of the flag.
        r = subprocess.run([self.env.bin("dxctl"), "status", "--gateway", self.env.gateway,
                            "--pki", self.env.pki], capture_output=True, text=True,
                           env={**env, "DXCTL_PERSON": "ops1"}, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SERVING", r.stdout)

    def test_make_up_leaves_a_deployment_running_and_make_down_stops_it(self):
        root = os.path.join(self.tmp.name, "up")
        script = [sys.executable, os.path.join(REPO, "scripts", "up.py")]
        r = subprocess.run([*script, "up", "--root", root, "--build-dir", BUILD, "--port", "0"],
                           capture_output=True, text=True, timeout=300)
        try:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            address = re.search(r"node gw1 on (\S+)", r.stdout).group(1)
            pids = [int(x.split()[1]) for x in open(os.path.join(root, "pids"))]
            self.assertEqual(len(pids), 3)  # two adapters and the gateway
            # The script has exited; what it started still serves.
            call = self.env.dxctl("call", "--gateway", address, "--pki",
                                  os.path.join(root, "pki"), "--agency", "000.00.00.H30",
                                  "--system", "hotich", "--dataset", "bca.population",
                                  "--purpose", "civil-registration", "--query",
                                  "citizen_id=001000000000")
            self.assertEqual(call.returncode, 0, call.stdout + call.stderr)
            self.assertIn("ALLOWED", call.stdout)
            again = subprocess.run([*script, "up", "--root", root, "--build-dir", BUILD],
                                   capture_output=True, text=True, timeout=60)
            self.assertEqual(again.returncode, 1)
            self.assertIn("already running", again.stdout)
        finally:
            d = subprocess.run([*script, "down", "--root", root], capture_output=True,
                               text=True, timeout=60)
        self.assertIn("stopped 3 process(es)", d.stdout)
        sys.path.insert(0, os.path.join(REPO, "scripts"))
        from up import alive_pid
        self.assertEqual([p for p in pids if alive_pid(p)], [])


if __name__ == "__main__":
    unittest.main()
