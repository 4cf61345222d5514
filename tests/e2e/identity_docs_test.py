"""certs/README.md is enough to issue a person's certificate (issue: every
identity written down): the documented commands are run as written against
a CA of their own, and the gateway accepts the result in the documented
role, refuses it elsewhere, and audits the refusal naming who was refused."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
from tests.harness import DevEnv  # noqa: E402

NAME = "nguyen.van.a"


def documented_commands():
    with open(os.path.join(REPO, "certs", "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- person-certificate: begin.*?```sh\n(.*?)```.*?"
                  r"<!-- person-certificate: end -->", text, re.S)
    if not m:
        raise AssertionError("certs/README.md lost its person-certificate example")
    return m.group(1)


class IdentityDocsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-identity-")
        cls.env = DevEnv(cls.tmp.name, BUILD, population=50, business=10).setup().start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.tmp.cleanup()

    def issue_as_documented(self, workdir, ca_cert, ca_key):
        os.makedirs(workdir, exist_ok=True)
        for f in ("root-ca.pem", "crl.pem"):
            shutil.copy(os.path.join(self.env.pki, f), workdir)
        env = dict(os.environ, CA_CERT=ca_cert, CA_KEY=ca_key,
                   PATH=os.path.join(BUILD, "cli") + os.pathsep + os.environ["PATH"])
        return subprocess.run(["bash", "-euo", "pipefail", "-c", documented_commands()],
                              cwd=workdir, env=env, capture_output=True, text=True, timeout=60)

    def install_person(self, workdir):
        folder = os.path.join(self.env.pki, "people", NAME)
        os.makedirs(folder, exist_ok=True)
        shutil.copy(os.path.join(workdir, f"{NAME}.chain.pem"), os.path.join(folder, "tls.pem"))
        shutil.copy(os.path.join(workdir, f"{NAME}.key"), os.path.join(folder, "tls.key"))

    def test_documented_commands_issue_a_certificate_the_gateway_accepts(self):
        work = os.path.join(self.tmp.name, "ca-work")
        r = self.issue_as_documented(work, os.path.join(self.env.pki, "intermediate-ca.pem"),
                                     os.path.join(self.env.pki, "intermediate-ca.key"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"OK  policy-admin {NAME}, valid until", r.stdout)
        self.install_person(work)

        # In its role: a policy administrator reads the policy.
        got = self.env.policy("list", person=NAME)
        self.assertEqual(got.returncode, 0, got.stdout + got.stderr)
        self.assertIn("bca.population", got.stdout)

        # Out of its role: audit search is refused, and the refusal audited
        # as a denial of a caller whose identity was verified.
        q = self.env.auditor("query", "--limit", "1", person=NAME)
        self.assertNotEqual(q.returncode, 0)
        self.assertIn("your certificate's role is policy-admin", q.stderr)
        rec = [x for x in self.env.audit_records() if x.get("admin_action") == "audit.refused"][-1]
        self.assertEqual(rec["tls_agency"], f"policy-admin:{NAME}")
        self.assertEqual(rec["decision"], "DECISION_DENY")
        self.assertEqual(rec["status_code"], 7)  # PERMISSION_DENIED
        self.assertTrue(rec["identity_verified"])
        self.assertIn("tls_cert_sha256", rec)

    def test_a_certificate_of_a_ca_nobody_trusts_is_refused_and_audited_as_claimed(self):
        # The same commands with a CA of the person's own making.
        work = os.path.join(self.tmp.name, "rogue-work")
        os.makedirs(work)
        key, cert = os.path.join(work, "rogue-ca.key"), os.path.join(work, "rogue-ca.pem")
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                        "-out", key], check=True)
        subprocess.run(["openssl", "req", "-x509", "-new", "-key", key, "-subj", "/CN=Rogue CA",
                        "-days", "30", "-addext", "basicConstraints=critical,CA:true",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", cert],
                       check=True)
        r = self.issue_as_documented(work, cert, key)
        self.assertNotEqual(r.returncode, 0)  # dxctl pki verify says no
        self.assertIn("INVALID", r.stdout)
        self.assertIn(f"claims policy-admin:{NAME}", r.stdout)
        # gRPC's handshake already refuses a chain to an unknown root, so it
        # never reaches the audit log: nothing of it was read.
