"""Succession of agencies (merged provinces, issue 28 item 1), end to end:
one deployment whose registry records two successions relative to now
(H29 -> H30 in force with no grace; H63 -> H30 in its grace period). Real
dxgate, file adapters, dxctl and dev PKI over loopback mTLS."""
import datetime
import json
import os
import re
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
from tests.harness import DevEnv  # noqa: E402

H30, H29, H63 = "000.00.00.H30", "000.00.00.H29", "000.00.00.H63"
BASIS = "Resolution 202/2025/QH15 (test)"


def rfc3339(delta):
    t = datetime.datetime.now(datetime.timezone.utc) + delta
    return t.replace(microsecond=0).isoformat()


def request_id(out):
    m = re.search(r"^request (\S+):", out, re.M)
    return m.group(1) if m else None


class SuccessionEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-succession-")
        env = DevEnv(cls.tmp.name, BUILD, population=20, business=20).setup()
        env.pki_cmd("agency", H63)
        registry_text, policy_text = env.registry_text, env.policy_text
        day = datetime.timedelta(days=1)

        def registry(extra=""):
            text = registry_text(extra)
            assert "\nagencies:\n" in text
            text = text.replace("\nagencies:\n", f"""
agencies:
  - code: {H63}
    name: UBND tinh (demo province H63, merged)
    systems:
      - {{id: motcua, name: One-stop portal}}
""", 1)
            return text + f"""
successions:
  - agency: {H29}
    successors: [{H30}]
    effective: "{rfc3339(-day)}"
    legal_basis: {BASIS}
  - agency: {H63}
    successors: [{H30}]
    effective: "{rfc3339(-day)}"
    grace_until: "{rfc3339(30 * day)}"
    legal_basis: {BASIS}
"""

        def policy(extra=""):
            text = policy_text(extra)
            civil = f"consumers: [{H30}]\n        purposes: [civil-registration]"
            assert civil in text
            text = text.replace(civil, civil.replace(f"[{H30}]", f"[{H30}, {H63}]"), 1)
            head = "  - dataset: mof.business\n    grants:\n"
            assert head in text
            return text.replace(head, f"""  - dataset: mof.business
    two_person_rule: true
    grants:
      - id: h63-statistics
        consumers: [{H63}]
        purposes: [statistics]
        fields: [enterprise_code, name]
        quota: {{requests_per_minute: 100, records_per_day: 5000}}
        legal_basis: Decree 194/2025/ND-CP Art. 16
""", 1)

        env.registry_text, env.policy_text = registry, policy
        cls.env = env.start()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.tmp.cleanup()

    def record_of(self, out):
        rid = request_id(out)
        self.assertIsNotNone(rid, out)
        recs = [r for r in self.env.audit_records() if r.get("request_id") == rid]
        self.assertEqual(len(recs), 1, recs)
        return recs[0]

    def test_old_code_after_the_date_is_refused_naming_the_successor(self):
        r = self.env.call(H29, "motcua", "mof.business", "tax-administration")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("REFUSED  FAILED_PRECONDITION:", r.stdout)
        self.assertIn("reason:       REASON_AGENCY_SUCCEEDED", r.stdout)
        self.assertIn(f"agency {H29} was succeeded by {H30}", r.stdout)
        self.assertIn(f"call as {H30}", r.stdout)
        self.assertIn(f"legal basis:  {BASIS}", r.stdout)
        rec = self.record_of(r.stdout)
        self.assertEqual(rec["decision"], "DECISION_DENY")
        self.assertEqual(rec["reason"], "REASON_AGENCY_SUCCEEDED")
        self.assertEqual(rec["consumer_successors"], [H30])
        self.assertTrue(rec["identity_verified"])

    def test_in_grace_the_old_code_is_served_and_marked(self):
        r = self.env.call(H63, "motcua", "mof.business", "statistics",
                          "--field", "enterprise_code", "--max-records", "2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rec = self.record_of(r.stdout)
        self.assertEqual(rec["decision"], "DECISION_ALLOW")
        self.assertEqual(rec["consumer_agency"], H63)
        self.assertEqual(rec["policy_rule_id"], "h63-statistics")
        self.assertEqual(rec["consumer_successors"], [H30])
        # The successor's own exchanges are not marked.
        ok = self.env.call(H30, "hotich", "mof.business", "tax-administration",
                           "--max-records", "1")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertNotIn("consumer_successors", self.record_of(ok.stdout))

    def test_neither_code_passes_as_the_other(self):
        # The successor's certificates under the old code's envelope, and
        # the old code's under the successor's: identity mismatch, as for
        # any two agencies; a succession grants no identity.
        for certs, claimed, system in ((H30, H63, "motcua"), (H63, H30, "hotich")):
            r = self.env.call(claimed, system, "mof.business", "statistics",
                              pki_agency=certs)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("REFUSED  UNAUTHENTICATED:", r.stdout)
            self.assertIn("reason:       REASON_IDENTITY_MISMATCH", r.stdout)

    def test_audit_by_either_code_finds_both_and_the_subject_report_shows_the_lineage(self):
        citizen = "001000000003"
        for agency in (H63, H30):
            system = "motcua" if agency == H63 else "hotich"
            r = self.env.call(agency, system, "bca.population", "civil-registration",
                              "--query", f"citizen_id={citizen}", "--subject", citizen)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        refused = self.env.call(H29, "motcua", "mof.business", "tax-administration")
        self.assertEqual(refused.returncode, 1, refused.stdout + refused.stderr)

        def consumers(*args):
            q = self.env.auditor("query", *args, "--format", "jsonl", "--limit", "1000")
            self.assertEqual(q.returncode, 0, q.stdout + q.stderr)
            return {json.loads(x).get("consumer_agency")
                    for x in q.stdout.splitlines() if x.strip()}

        # Without --lineage: the code alone.
        self.assertEqual(consumers("--consumer", H63), {H63})
        # With it, from the successor or from an old code: the whole lineage.
        self.assertEqual(consumers("--consumer", H30, "--lineage"), {H30, H63, H29})
        self.assertEqual(consumers("--consumer", H63, "--lineage"), {H30, H63, H29})
        # An agency with no succession: just itself.
        self.assertEqual(consumers("--consumer", "000.00.00.G12", "--lineage"), set())

        report = self.env.auditor("subject-report", "--subject", citizen)
        self.assertEqual(report.returncode, 0, report.stdout + report.stderr)
        self.assertIn(f"{H63}/motcua (succeeded by {H30})", report.stdout)
        self.assertIn(f"{H30}/hotich", report.stdout)
        self.assertIn("2 access(es) to data about this person", report.stdout)

    def test_proposed_change_carries_the_grants_under_two_person_review(self):
        shown = self.env.policy("propose-succession", H63, "--print")
        self.assertEqual(shown.returncode, 0, shown.stdout + shown.stderr)
        self.assertIn(f"copy mof.business grant h63-statistics to {H30}", shown.stdout)
        doc = json.loads(shown.stdout[shown.stdout.index("{"):])
        grants = {g["id"]: g for d in doc["datasets"] for g in d["grants"]}
        copy = grants[f"h63-statistics@{H30}"]
        self.assertEqual(copy["consumers"], [H30])
        self.assertEqual(copy["purposes"], ["statistics"])
        self.assertEqual(copy["quota"], {"requests_per_minute": 100, "records_per_day": "5000"})

        # Before the change, the successor may not read for statistics.
        denied = self.env.call(H30, "hotich", "mof.business", "statistics")
        self.assertEqual(denied.returncode, 1, denied.stdout + denied.stderr)

        out = self.env.policy("propose-succession", H63)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        pending = re.search(r"pending (\w+):", out.stdout)
        self.assertIsNotNone(pending, out.stdout)
        # The proposer cannot approve their own change.
        self.assertNotEqual(self.env.policy("approve", pending.group(1)).returncode, 0)
        approved = self.env.policy("approve", pending.group(1), person="admin2")
        self.assertEqual(approved.returncode, 0, approved.stdout + approved.stderr)

        served = self.env.call(H30, "hotich", "mof.business", "statistics",
                               "--field", "enterprise_code", "--max-records", "1")
        self.assertEqual(served.returncode, 0, served.stdout + served.stderr)
        self.assertEqual(self.record_of(served.stdout)["policy_rule_id"],
                         f"h63-statistics@{H30}")
        again = self.env.policy("propose-succession", H63)
        self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
        self.assertIn("no change", again.stdout)


if __name__ == "__main__":
    unittest.main()
