"""The web console in a real headless Chromium (issue: a web console for
policy administrators and auditors). A real gateway with its console on
loopback, real exchanges over mutual TLS, people signing in with `dxctl
console login` (their keys never reach the browser), the browser trusting
exactly the gateway's key (--ignore-certificate-errors-spki-list). Every
refusal is checked on the server and in the audit log, not only on the
page. Screenshots go to $DX_CONSOLE_SCREENSHOTS when set (docs/CONSOLE.md)."""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from consumer import H30, Consumer  # noqa: E402
from tests.harness import CONSOLE_SETTINGS, DevEnv  # noqa: E402
from tests.harness.policies import business_with_h29_statistics  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException, StaleElementReferenceException, TimeoutException)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

H29 = "000.00.00.H29"
SUBJECT_A, SUBJECT_B = "001099000123", "001099000456"
BASIS = "Decree 194/2025/ND-CP Art. 16"
# Strings that would run script, change the page or mislead its reader if
# a page put them into HTML; stored as purpose codes, legal bases and a
# policy comment, they must show as the very same text.
HOSTILE = [
    "<script>window.__dxPwned = 1</script>",
    "<img src=x onerror=\"window.__dxPwned = 2\">",
    "\"><svg onload=window.__dxPwned=3>",
    "javascript:window.__dxPwned=4",
    "\u202efull_name",
    "full\u200bname &amp; &lt;b&gt;",
]
# A purpose that hides what it says: shown with its hidden characters named.
LOOK_ALIKE = "000.00.00.\u041d30"  # a Cyrillic Н where H30 has an H
SNEAKY_PURPOSE = "residence\u202everification\u200b"


def visible(text):
    """What the console shows for a string: hidden characters as <U+XXXX>
    (the same rule as common/visible_text.h)."""
    hidden = set(range(0x20)) | set(range(0x7F, 0xA0)) | {0x061C, 0xFEFF} \
        | set(range(0x200B, 0x2010)) | set(range(0x2028, 0x202F)) \
        | set(range(0x2060, 0x2065)) | set(range(0x2066, 0x206A)) \
        | {0x00AD, 0x034F, 0x115F, 0x1160, 0x180E, 0x3164, 0xFFA0} | set(range(0xE0000, 0xE0080))
    return "".join(f"<U+{ord(c):04X}>" if ord(c) in hidden else c for c in text)


# In transit, the first hash of every inclusion proof gets one bit flipped.
TAMPER = """
(() => {
  const real = window.fetch.bind(window);
  window.fetch = async (url, init) => {
    const r = await real(url, init);
    if (!String(url).includes('GetInclusionProof')) return r;
    const j = await r.json();
    if (j.path && j.path.length) {
      const b = atob(j.path[0]);
      j.path[0] = btoa(String.fromCharCode(b.charCodeAt(0) ^ 1) + b.slice(1));
    }
    return new Response(JSON.stringify(j), {status: r.status, headers: r.headers});
  };
})();
"""


def wait(driver, cond, timeout=15):
    try:
        # A table the page is rebuilding may go stale under the condition.
        return WebDriverWait(driver, timeout, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException)).until(lambda d: cond(d))
    except TimeoutException:
        # Say what the page said.
        errors = driver.find_elements(By.ID, "error")
        try:
            log = [e["message"] for e in driver.get_log("browser")]
        except Exception:  # not every driver keeps the console's log
            log = []
        raise AssertionError(f"timed out on {driver.current_url}; the page says: "
                             f"{errors[0].text if errors else driver.page_source[:500]!r}; "
                             f"console: {log}")


class ConsoleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-console-")
        cls.shots = os.environ.get("DX_CONSOLE_SCREENSHOTS") or os.path.join(cls.tmp.name, "shots")
        os.makedirs(cls.shots, exist_ok=True)
        cls.env = DevEnv(cls.tmp.name, BUILD,
                         gateway_settings={"console": CONSOLE_SETTINGS}).setup()
        cls.browsers = []
        try:
            cls.env.start()
            cls.origin = cls.env.console_url()
            cls.port = int(cls.origin.rsplit(":", 1)[1])
            cls.traffic()
        except Exception:
            cls.env.close()
            cls.tmp.cleanup()
            raise
        # The browser trusts the gateway's key and nothing else.
        cls.spki = cls.sh(f"openssl x509 -in {cls.env.pki}/gateway/tls.pem -pubkey -noout"
                          " | openssl pkey -pubin -outform der"
                          " | openssl dgst -sha256 -binary | base64")
        # The auditor's pin, from the certificate file, as an operator would
        # hand it over: the openssl CLI's fingerprint, not the console's.
        cls.log_pin = cls.sh(f"openssl x509 -in {cls.env.pki}/gateway/sign.pem -noout"
                         " -fingerprint -sha256").split("=", 1)[1].replace(":", "").lower()

    @classmethod
    def tearDownClass(cls):
        for b in cls.browsers:
            try:
                b.quit()
            except Exception:
                pass
        cls.env.close()
        cls.tmp.cleanup()

    @staticmethod
    def sh(cmd):
        return subprocess.run(cmd, shell=True, check=True, capture_output=True,
                              text=True).stdout.strip()

    @classmethod
    def traffic(cls):
        """Known exchanges: allowed and refused, for two data subjects, and
        refused ones carrying the hostile strings."""
        h30, h29 = Consumer(cls.env), Consumer(cls.env, H29)
        try:
            h30.call(query={"citizen_id": SUBJECT_A}, data_subject_id=SUBJECT_A,
                     legal_basis=BASIS)
            cls.refused_id = "console-refused-" + uuid.uuid4().hex[:8]
            code, reason, _ = h29.refusal(request_id=cls.refused_id, system="motcua",
                                          purpose="residence-verification",
                                          fields=["ethnicity"], data_subject_id=SUBJECT_A,
                                          legal_basis=BASIS)
            assert reason == "REASON_POLICY_FORBIDDEN", (code, reason)
            cls.refused_reason = reason
            h30.call(query={"citizen_id": SUBJECT_B}, data_subject_id=SUBJECT_B,
                     legal_basis=BASIS)
            cls.hostile_ids = []
            for s in HOSTILE:
                rid = "console-hostile-" + uuid.uuid4().hex[:8]
                cls.hostile_ids.append(rid)
                h30.refusal(request_id=rid, purpose=s, legal_basis=s)
            # A forgery: signed by H30 with its own keys over its own TLS,
            # the envelope naming H29 and citizen A. It must never read as
            # an access by H29.
            forger = Consumer(cls.env)
            forger.agency = H29
            cls.forged_id = "console-forged-" + uuid.uuid4().hex[:8]
            try:
                code, reason, _ = forger.refusal(request_id=cls.forged_id, system="motcua",
                                                 purpose=SNEAKY_PURPOSE,
                                                 data_subject_id=SUBJECT_A, legal_basis=BASIS)
                assert reason == "REASON_IDENTITY_MISMATCH", (code, reason)
                # A look-alike: H30 claiming "000.00.00.Н30" (Cyrillic Н).
                forger.agency = LOOK_ALIKE
                cls.look_alike_id = "console-lookalike-" + uuid.uuid4().hex[:8]
                code, reason, _ = forger.refusal(request_id=cls.look_alike_id, system="hotich",
                                                 purpose="civil-registration")
                assert reason == "REASON_IDENTITY_MISMATCH", (code, reason)
            finally:
                forger.close()
        finally:
            h30.close()
            h29.close()
        time.sleep(1.5)  # a signed tree head covers them all

    # ------------------------------------------------------------ helpers --
    def browser(self, script=None, lang="en-US"):
        """A headless Chromium whose language (navigator.languages and
        Accept-Language) is `lang`: English unless a test asks otherwise."""
        o = webdriver.ChromeOptions()
        o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        profile = tempfile.mkdtemp(dir=self.tmp.name)
        for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                  "--disable-gpu", f"--user-data-dir={profile}", "--window-size=1280,1000",
                  f"--ignore-certificate-errors-spki-list={self.spki}", f"--lang={lang}"]:
            o.add_argument(a)
        o.add_experimental_option("prefs", {"intl.accept_languages": lang})
        d = webdriver.Chrome(service=Service(shutil.which("chromedriver") or
                                             "/usr/bin/chromedriver"), options=o)
        self.browsers.append(d)
        self.addCleanup(d.quit)
        if script:
            d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": script})
        return d

    def login_link(self, *who):
        args = ["--person", who[0]] if len(who) == 1 else ["--cert", who[0], "--key", who[1]]
        return self.env.dxctl("console", "login", "--console", self.origin, "--pki",
                              self.env.pki, *args)

    def sign_in(self, driver, person):
        r = self.login_link(person)
        self.assertEqual(r.returncode, 0, r.stderr)
        driver.get(r.stdout.strip().splitlines()[-1])
        wait(driver, lambda d: d.find_element(By.ID, "who").text != "")
        return driver

    def go(self, driver, page):
        driver.get(f"{self.origin}/#{page}")
        wait(driver, lambda d: d.find_element(By.ID, "who").text != "")
        wait(driver, lambda d: d.find_element(By.ID, f"page-{page}").is_displayed())

    def shot(self, driver, name):
        driver.save_screenshot(os.path.join(self.shots, f"{name}.png"))

    def search_request(self, driver, request_id):
        self.go(driver, "audit")
        box = driver.find_element(By.ID, "q-request-id")
        box.clear()
        box.send_keys(request_id)
        driver.find_element(By.ID, "q-search").click()

        # The table still shows the last search until this one's answer
        # comes: wait for rows that are all this request's, then open one
        # (a re-render in between makes it stale: the wait tries again).
        def this_search(d):
            rows = d.find_elements(By.CSS_SELECTOR, "#audit-results tr.clickable")
            return rows and all(request_id in r.text for r in rows)

        wait(driver, this_search)
        wait(driver, lambda d: d.find_element(By.CSS_SELECTOR,
                                              "#audit-results tr.clickable").click() or True)
        wait(driver, lambda d: d.find_element(By.ID, "record").is_displayed()
             and self.detail(d, "request id") == request_id)

    def detail(self, driver, label):
        return driver.find_element(By.CSS_SELECTOR, f'#rec-fields dd[data-field="{label}"]').text

    def pin(self, driver, value):
        box = driver.find_element(By.ID, "pin-input")
        box.clear()
        box.send_keys(value)
        driver.find_element(By.ID, "pin-save").click()

    def verify(self, driver):
        driver.find_element(By.ID, "verify-proof").click()
        wait(driver, lambda d: d.find_element(By.ID, "proof-result").get_attribute("data-result")
             or "FAILED" in d.find_element(By.ID, "proof-result").text)
        el = driver.find_element(By.ID, "proof-result")
        return el.get_attribute("data-result") or "failed", el.text

    def session(self, person=None, cert=None):
        """A session for plain HTTP requests: (cookie, csrf)."""
        r = self.login_link(person) if person else self.login_link(*cert)
        self.assertEqual(r.returncode, 0, r.stderr)
        code = r.stdout.strip().split("#sign-in=")[-1]
        status, headers, body = self.http("POST", "/api/session", {"code": code})
        self.assertEqual(status, 200, body)
        return headers["Set-Cookie"].split(";")[0], body["csrf_token"]

    def http(self, method, path, body=None, headers=None, cert=None):
        ctx = ssl.create_default_context(cafile=os.path.join(self.env.pki, "root-ca.pem"))
        if cert:
            ctx.load_cert_chain(*cert)
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=30)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request(method, path, json.dumps(body) if body is not None else None, h)
        resp = conn.getresponse()
        data = resp.read().decode()
        conn.close()
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = data
        return resp.status, dict(resp.getheaders()), parsed

    def rpc(self, session, method, request):
        cookie, csrf = session
        return self.http("POST", f"/api/rpc/{method}", request,
                         {"Cookie": cookie, "X-DX-CSRF": csrf})

    def admin_records(self, action):
        return [r for r in self.env.audit_records()
                if r.get("record", r).get("admin_action") == action]

    # -------------------------------------------------------------- tests --
    def test_1_an_auditor_finds_a_refusal_and_the_browser_verifies_its_proof(self):
        d = self.sign_in(self.browser(), "auditor1")
        self.search_request(d, self.refused_id)
        self.assertEqual(self.detail(d, "decision"), "deny")
        self.assertEqual(self.detail(d, "reason"),
                         self.refused_reason.replace("REASON_", "").lower())
        self.assertEqual(self.detail(d, "legal basis"), BASIS)
        self.assertEqual(self.detail(d, "consumer agency"), H29)
        # Without a pin, a valid proof is not called verified.
        self.assertEqual(self.verify(d)[0], "unpinned")
        self.pin(d, self.log_pin)
        result, text = self.verify(d)
        self.assertEqual(result, "verified", text)
        steps = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#proof-steps li")]
        self.assertTrue(all(s.startswith("✔") for s in steps), steps)
        self.shot(d, "audit-search")
        # A pin of another key: failed, whatever the proof says.
        self.pin(d, "ab" * 32)
        self.assertEqual(self.verify(d)[0], "failed")

    def test_2_a_proof_altered_in_transit_fails_in_the_browser(self):
        d = self.sign_in(self.browser(script=TAMPER), "auditor1")
        self.search_request(d, self.refused_id)
        self.pin(d, self.log_pin)
        result, text = self.verify(d)
        self.assertEqual(result, "failed", text)
        steps = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#proof-steps li")]
        self.assertTrue(any(s.startswith("✘") and "path" in s for s in steps), steps)
        self.shot(d, "audit-proof-failed")

    def test_3_a_subject_report_lists_exactly_that_persons_accesses(self):
        d = self.sign_in(self.browser(), "auditor1")
        self.go(d, "subject")
        d.find_element(By.ID, "s-subject").send_keys(SUBJECT_A)
        d.find_element(By.ID, "s-run").click()
        wait(d, lambda d: "accesses" in d.find_element(By.ID, "s-summary").text)
        rows = d.find_elements(By.CSS_SELECTOR, "#subject-results tr")[1:]
        cells = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]
        # Requests by verified agencies: H30's access and H29's refusal;
        # the forgery naming H29 is not among them.
        self.assertEqual(len(cells), 2, cells)
        self.assertEqual(sorted(c[1] for c in cells), sorted([H30, H29]))
        self.assertIn(self.refused_id, [c[8] for c in cells])
        self.assertNotIn(self.forged_id, [c[8] for c in cells])
        self.assertEqual({c[5] for c in cells}, {BASIS})
        self.assertEqual(sorted(c[6] for c in cells), ["allow", "deny"])
        # The forgery: an attempt that named this person, its agency a claim.
        claims = d.find_elements(By.CSS_SELECTOR, "#subject-claims tr")[1:]
        self.assertEqual(len(claims), 1, [r.text for r in claims])
        self.assertIn("claimed", claims[0].get_attribute("class"))
        ccells = [c.get_attribute("textContent") for c in claims[0].find_elements(By.TAG_NAME, "td")]
        self.assertEqual(ccells[1], f"claimed to be {H29}/motcua, not verified")
        self.assertEqual(ccells[2], H30)  # the certificate it really came with
        self.assertEqual(ccells[4], visible(SNEAKY_PURPOSE))  # <U+202E>, <U+200B>
        self.assertEqual(ccells[8], self.forged_id)
        self.assertEqual(claims[0].find_elements(By.CSS_SELECTOR, "[data-claimed=true]")[0].text,
                         f"claimed to be {H29}/motcua, not verified")
        summary = d.find_element(By.ID, "s-summary").text
        self.assertIn("1 accesses to the data of this person, 1 refused or failed requests by "
                      "verified agencies, 1 unverified attempts that named this person, and 0 "
                      "pushed batches of changes to their record", summary)
        # The printable form keeps both sections, their headings and the summary.
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        try:
            for sel in ("#subject-results", "#subject-claims", "#s-summary"):
                self.assertTrue(d.find_element(By.CSS_SELECTOR, sel).is_displayed(), sel)
            headings = [h.text for h in d.find_elements(By.CSS_SELECTOR, "#page-subject h2")
                        if h.is_displayed()]
            self.assertIn("Attempts that named this person, not verified", headings)
            self.assertIn("Changes to this person's record pushed to subscribing agencies",
                          headings)
            self.assertFalse(d.find_element(By.ID, "subject-form").is_displayed())
            self.shot(d, "subject-report-print")
        finally:
            d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        self.shot(d, "subject-report")
        self.assertTrue(self.admin_records("audit.subject-report"))

    def test_3c_a_vietnamese_browser_gets_every_page_in_vietnamese_until_it_switches(self):
        with open(os.path.join(REPO, "i18n", "vi.json"), encoding="utf-8") as f:
            vi = json.load(f)
        with open(os.path.join(REPO, "i18n", "en.json"), encoding="utf-8") as f:
            en = json.load(f)
        d = self.sign_in(self.browser(lang="vi-VN"), "auditor1")
        self.assertEqual(d.execute_script("return navigator.languages[0]"), "vi-VN")
        vi_words = set(vi.values())
        # Words of the English catalogue that are not also Vietnamese text
        # (codes such as "#" are the same in both).
        en_only = set(en.values()) - vi_words

        def texts_of(page):
            """(fixed texts, table headings, labels) shown on the page."""
            fixed = [(e.get_attribute("data-i18n"), e.text) for e in d.find_elements(
                By.CSS_SELECTOR, f"header [data-i18n], #page-{page} [data-i18n]")
                if e.is_displayed()]
            heads = [e.text for e in d.find_elements(By.CSS_SELECTOR, f"#page-{page} th")
                     if e.is_displayed()]
            return fixed, heads

        def tables_drawn(page, ids):
            return lambda d: all(d.find_elements(By.CSS_SELECTOR, f"#{i} th") for i in ids)

        pages = {"overview": ["ov-minutes", "ov-reasons", "ov-consumers", "ov-datasets"],
                 "audit": [], "subject": [], "policies": ["pol-history"]}
        for page, tables in pages.items():
            with self.subTest(page=page):
                self.go(d, page)
                wait(d, tables_drawn(page, tables))
                self.assertEqual(d.execute_script("return document.documentElement.lang"), "vi")
                fixed, heads = texts_of(page)
                self.assertTrue(fixed)
                for key, text in fixed:
                    # Selenium's .text collapses the HTML's line breaks.
                    self.assertEqual(text, " ".join(vi[key].split()), key)
                for h in heads:
                    self.assertIn(h, vi_words, f"{page}: heading {h!r}")
                body = d.find_element(By.ID, f"page-{page}").text
                self.assertFalse([w for w in en_only if len(w) > 12 and w in body], page)
        nav = [a.text for a in d.find_elements(By.CSS_SELECTOR, "#nav a")]
        self.assertEqual(nav, ["Tổng quan", "Nhật ký kiểm toán", "Báo cáo chủ thể dữ liệu",
                               "Chính sách"])
        # The refusal's record: its time in Vietnam's zone with the offset,
        # the same instant the log holds; words in Vietnamese.
        self.search_request(d, self.refused_id)
        rec = next(r for r in self.env.audit_records() if r.get("request_id") == self.refused_id)
        at = int(rec["time_unix_micros"]) // 1_000_000 + 7 * 3600
        expected = time.strftime("%Y-%m-%d %H:%M:%S +07:00", time.gmtime(at))
        self.assertEqual(self.detail(d, "time"), expected)
        self.assertEqual(self.detail(d, "decision"), "từ chối")
        labels = [t.text for t in d.find_elements(By.CSS_SELECTOR, "#rec-fields dt")]
        self.assertIn("căn cứ pháp lý (do cơ quan khai thác khai báo)", labels)
        row = d.find_element(By.CSS_SELECTOR, "#audit-results tr.clickable").text
        self.assertIn(expected, row)
        # A time typed in the search is Vietnam's too: the minute of the
        # refusal, in +07:00, finds it.
        local = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at - 1))
        local_to = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at + 2))
        self.go(d, "audit")
        for box, value in (("q-from", local), ("q-to", local_to)):
            d.execute_script("document.getElementById(arguments[0]).value = arguments[1]",
                             box, value)
        d.find_element(By.ID, "q-request-id").clear()
        d.find_element(By.ID, "q-request-id").send_keys(self.refused_id)
        d.find_element(By.ID, "q-search").click()
        wait(d, lambda d: self.refused_id in d.find_element(By.ID, "audit-results").text)
        # The printable subject report, in Vietnamese.
        self.go(d, "subject")
        d.find_element(By.ID, "s-subject").send_keys(SUBJECT_A)
        d.find_element(By.ID, "s-run").click()
        wait(d, lambda d: "lần truy cập" in d.find_element(By.ID, "s-summary").text)
        summary = d.find_element(By.ID, "s-summary").text
        self.assertRegex(summary, r"^1 lần truy cập dữ liệu của người này, 1 yêu cầu bị từ chối")
        claim = d.find_elements(By.CSS_SELECTOR, "#subject-claims tr")[1].text
        self.assertIn(f"tự xưng là {H29}/motcua, chưa được xác minh", claim)
        self.assertRegex(d.find_elements(By.CSS_SELECTOR, "#subject-results tr")[1].text,
                         r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+07:00")
        self.shot(d, "subject-report-vi")
        # English on request, remembered across a reload.
        Select(d.find_element(By.ID, "lang")).select_by_value("en")
        wait(d, lambda d: d.find_element(By.CSS_SELECTOR, "#nav a").text == "Overview")
        self.assertEqual(d.execute_script("return document.documentElement.lang"), "en")
        for page in pages:
            self.go(d, page)
            fixed, _ = texts_of(page)
            for key, text in fixed:
                self.assertEqual(text, " ".join(en[key].split()), key)
        d.refresh()
        wait(d, lambda d: d.find_element(By.ID, "who").text != "")
        self.assertEqual(d.find_element(By.CSS_SELECTOR, "#nav a").text, "Overview")
        self.assertEqual(d.find_element(By.ID, "lang").get_attribute("value"), "en")

    def test_3b_a_forgery_is_marked_in_the_search_the_record_and_the_overview(self):
        d = self.sign_in(self.browser(), "auditor1")
        # The overview counts it apart, never as an exchange of H29.
        wait(d, lambda d: "claimed to be" in d.find_element(By.ID, "ov-consumers").text)
        rows = {r.find_elements(By.TAG_NAME, "td")[0].text: r
                for r in d.find_elements(By.CSS_SELECTOR, "#ov-consumers tr")[1:]}
        claim = f"claimed to be {H29}, not verified"
        self.assertIn(claim, rows)
        self.assertIn("claimed", rows[claim].get_attribute("class"))
        self.assertIn("could not be verified", d.find_element(By.ID, "ov-claims").text)
        # The search by consumer H29 lists it, marked.
        self.go(d, "audit")
        d.find_element(By.ID, "q-consumer").send_keys(H29)
        d.find_element(By.ID, "q-search").click()

        def forged_row(d):
            for r in d.find_elements(By.CSS_SELECTOR, "#audit-results tr.clickable"):
                if self.forged_id in r.text:
                    return r
            return None
        row = wait(d, forged_row)
        self.assertIn("claimed", row.get_attribute("class"))
        cells = row.find_elements(By.TAG_NAME, "td")
        self.assertEqual(cells[3].text, claim)
        self.assertEqual(cells[3].find_element(By.TAG_NAME, "span").get_attribute("data-claimed"),
                         "true")
        self.assertEqual(cells[6].get_attribute("textContent"), visible(SNEAKY_PURPOSE))
        self.assertNotIn("\u202e", d.find_element(By.ID, "audit-results").get_attribute("textContent"))
        verified = [r for r in d.find_elements(By.CSS_SELECTOR, "#audit-results tr.clickable")
                    if self.refused_id in r.text][0]
        self.assertNotIn("claimed", verified.get_attribute("class"))
        self.assertEqual(verified.find_elements(By.TAG_NAME, "td")[3].text, H29)
        # The record: a banner, and every field the request chose marked.
        self.search_request(d, self.forged_id)
        banner = d.find_element(By.ID, "rec-claim")
        self.assertTrue(banner.is_displayed())
        self.assertIn("Identity NOT verified", banner.text)
        agency = d.find_element(By.CSS_SELECTOR, '#rec-fields dd[data-field="consumer agency"]')
        self.assertEqual(agency.text, H29)
        self.assertEqual(agency.get_attribute("data-claimed"), "true")
        labels = [t.text for t in d.find_elements(By.CSS_SELECTOR, "#rec-fields dt")]
        for k in ("consumer agency", "purpose", "legal basis", "request id"):
            self.assertIn(f"{k} (claimed, not verified)", labels)
        self.assertEqual(self.detail(d, "purpose"), visible(SNEAKY_PURPOSE))
        self.assertEqual(self.detail(d, "identity verified"), "no")
        self.shot(d, "audit-forged")
        # A verified refusal has no banner, and its purpose is "declared".
        self.search_request(d, self.refused_id)
        self.assertFalse(d.find_element(By.ID, "rec-claim").is_displayed())
        labels = [t.text for t in d.find_elements(By.CSS_SELECTOR, "#rec-fields dt")]
        self.assertIn("purpose (declared by the consumer)", labels)
        self.assertIn("consumer agency", labels)
        # A look-alike code is shown with its letter named, never as H30.
        self.go(d, "audit")
        d.find_element(By.ID, "q-consumer").clear()  # H29's, above
        self.search_request(d, self.look_alike_id)
        agency = d.find_element(By.CSS_SELECTOR, '#rec-fields dd[data-field="consumer agency"]')
        self.assertEqual(agency.text, "000.00.00.<U+041D>30")
        self.assertNotIn("\u041d", d.find_element(By.ID, "rec-fields").get_attribute("textContent"))

    def test_4_two_administrators_change_a_two_person_dataset(self):
        h29 = Consumer(self.env, H29)
        try:
            self.assertEqual(h29.refusal(dataset="mof.business", purpose="statistics",
                                         system="motcua")[1], "REASON_POLICY_DENIED")
            a1 = self.sign_in(self.browser(), "admin1")
            self.go(a1, "policies")
            wait(a1, lambda d: "mof.business" in d.find_element(By.ID, "pol-datasets").text)
            self.shot(a1, "policies")
            doc = business_with_h29_statistics(two_person_rule=True)
            # A mistake first: the line-precise error, before anything is sent.
            a1.execute_script("document.getElementById('apply-yaml').value = arguments[0]",
                              doc.replace("purposes: [statistics]", "purposes: [statistics"))
            a1.find_element(By.ID, "apply-validate").click()
            wait(a1, lambda d: "error" in d.find_element(By.ID, "apply-problems").text)
            self.assertRegex(a1.find_element(By.ID, "apply-problems").text, r":\d+")
            a1.execute_script("document.getElementById('apply-yaml').value = arguments[0]", doc)
            a1.find_element(By.ID, "apply-comment").send_keys(HOSTILE[1])
            a1.find_element(By.ID, "apply-send").click()
            wait(a1, lambda d: d.find_elements(By.ID, "apply-result"))
            self.assertIn("waiting for a second administrator",
                          a1.find_element(By.ID, "apply-result").text)
            wait(a1, lambda d: d.find_elements(By.CSS_SELECTOR, "#pol-pending button.approve"))
            self.shot(a1, "policies-pending")
            # The proposer's own approval: refused by the server.
            a1.find_element(By.CSS_SELECTOR, "#pol-pending button.approve").click()
            wait(a1, lambda d: "second administrator" in d.find_element(By.ID, "error").text)
            self.assertEqual(h29.refusal(dataset="mof.business", purpose="statistics",
                                         system="motcua")[1], "REASON_POLICY_DENIED")
            # Another administrator, in another browser session.
            a2 = self.sign_in(self.browser(), "admin2")
            self.go(a2, "policies")
            wait(a2, lambda d: d.find_elements(By.CSS_SELECTOR, "#pol-pending button.approve"))
            a2.find_element(By.CSS_SELECTOR, "#pol-pending input").send_keys("checked with MoF")
            a2.find_element(By.CSS_SELECTOR, "#pol-pending button.approve").click()
            wait(a2, lambda d: "policy-admin:admin2" in d.find_element(By.ID, "pol-history").text)
            history = a2.find_element(By.ID, "pol-history").text
            self.assertIn("policy-admin:admin2", history)
            self.assertIn(HOSTILE[1], history)  # the comment, as text
            self.assertIsNone(a2.execute_script("return window.__dxPwned"))
            self.shot(a2, "policies-approved")
            cols, rows = h29.call(dataset="mof.business", purpose="statistics", system="motcua")
            self.assertEqual(cols, ["province", "status"])
            # The diff between the two revisions, and the what-if form.
            a2.find_element(By.ID, "diff-from").send_keys("1")
            a2.find_element(By.ID, "diff-to").send_keys("2")
            a2.find_element(By.CSS_SELECTOR, "#diff-form button").click()
            wait(a2, lambda d: "h29-statistics" in d.find_element(By.ID, "pol-diff").text)
            for field, value in (("x-consumer", H29), ("x-dataset", "mof.business"),
                                 ("x-purpose", "statistics"), ("x-fields", "province")):
                a2.find_element(By.ID, field).send_keys(value)
            a2.find_element(By.CSS_SELECTOR, "#explain-form button").click()
            wait(a2, lambda d: d.find_element(By.ID, "x-result").text.startswith("ALLOWED"))
            self.assertIn("h29-statistics", a2.find_element(By.ID, "x-result").text)
            # The same, looked up by a key on a field the grant does not serve.
            a2.find_element(By.ID, "x-query").send_keys("enterprise_code=0100000001")
            a2.find_element(By.CSS_SELECTOR, "#explain-form button").click()
            wait(a2, lambda d: d.find_element(By.ID, "x-result").text.startswith("REFUSED"))
            self.assertIn("reason: REASON_QUERY_NOT_ALLOWED",
                          a2.find_element(By.ID, "x-result").text)
        finally:
            h29.close()

    def test_5_refusals_are_the_servers_and_are_audited(self):
        auditor = self.session("auditor1")
        status, _, body = self.rpc(auditor, "dx.v1.PolicyAdmin/Apply",
                                   {"yaml": "datasets: []", "comment": "auditor tries"})
        self.assertEqual(status, 403, body)
        self.assertIn("policy-admin", body["message"])
        refused = [r for r in self.env.audit_records()
                   if r.get("admin_action") == "policy.refused"
                   and r.get("tls_agency") == "auditor:auditor1"]
        self.assertTrue(refused, "the auditor's Apply is not in the log")
        # An agency's certificate signs a good signature: no sign-in.
        agency = os.path.join(self.env.pki, "agencies", H30)
        r = self.login_link(os.path.join(agency, "tls.pem"), os.path.join(agency, "tls.key"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("only people", r.stderr)
        self.assertTrue([x for x in self.env.audit_records()
                         if x.get("admin_action") == "console.refused"
                         and x.get("tls_agency") == f"agency:{H30}"])
        # The TLS client certificate route: a person yes, an agency no.
        person = os.path.join(self.env.pki, "people", "auditor1")
        status, headers, body = self.http("POST", "/api/session/certificate", {},
                                          cert=(f"{person}/tls.pem", f"{person}/tls.key"))
        self.assertEqual(status, 200, body)
        self.assertIn("HttpOnly", headers["Set-Cookie"])
        status, _, body = self.http("POST", "/api/session/certificate", {},
                                    cert=(f"{agency}/tls.pem", f"{agency}/tls.key"))
        self.assertEqual(status, 403, body)
        # No session, no CSRF token, a foreign Origin: each refused.
        self.assertEqual(self.http("POST", "/api/rpc/dx.v1.Audit/Query", {})[0], 401)
        cookie, csrf = auditor
        self.assertEqual(self.http("POST", "/api/rpc/dx.v1.Audit/Query", {},
                                   {"Cookie": cookie})[0], 403)
        self.assertEqual(self.http("POST", "/api/rpc/dx.v1.Audit/Query", {},
                                   {"Cookie": cookie, "X-DX-CSRF": csrf,
                                    "Origin": "https://evil.example"})[0], 403)
        self.assertEqual(self.rpc(auditor, "dx.v1.Audit/Prune", {})[0], 404)
        self.assertEqual(self.rpc(auditor, "dx.v1.Audit/Query", {"page_size": 1})[0], 200)
        # A session id is honoured on the in-process channel only: sent over
        # the network with an agency's certificate, it is ignored.
        from dx.v1 import audit_pb2, audit_pb2_grpc

        def read(p):
            with open(os.path.join(self.env.pki, p), "rb") as f:
                return f.read()
        channel = grpc.secure_channel(self.env.gateway, grpc.ssl_channel_credentials(
            read("root-ca.pem"), read(f"agencies/{H30}/tls.key"),
            read(f"agencies/{H30}/tls.pem")))
        try:
            with self.assertRaises(grpc.RpcError) as refused:
                list(audit_pb2_grpc.AuditStub(channel).Query(
                    audit_pb2.AuditQuery(page_size=1), timeout=10,
                    metadata=[("dx-console-session", auditor[0].split("=", 1)[1])]))
            self.assertEqual(refused.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        finally:
            channel.close()
        # The export behind the page's button: records with their proofs.
        status, _, bundle = self.rpc(auditor, "dx.v1.Audit/Export",
                                     {"from_sequence": "0", "to_sequence": "3"})
        self.assertEqual(status, 200, bundle)
        chunk = bundle["messages"][0]
        self.assertEqual(len(chunk["entries"]), 3)
        self.assertTrue(chunk["tree_head"]["signature"])
        status, headers, _ = self.http("GET", "/")
        csp = headers["Content-Security-Policy"]
        self.assertIn("script-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)

    def test_6_hostile_strings_render_as_text_and_a_cross_site_post_is_refused(self):
        d = self.sign_in(self.browser(), "auditor1")
        self.go(d, "audit")
        Select = __import__("selenium.webdriver.support.select", fromlist=["Select"]).Select
        Select(d.find_element(By.ID, "q-decision")).select_by_value("DECISION_DENY")
        d.find_element(By.ID, "q-consumer").send_keys(H30)
        d.find_element(By.ID, "q-search").click()
        wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#audit-results tr.clickable"))
             >= len(HOSTILE))
        purposes = [r.find_elements(By.TAG_NAME, "td")[6].get_attribute("textContent")
                    for r in d.find_elements(By.CSS_SELECTOR, "#audit-results tr.clickable")]
        # Markup shows as the same text; bidi and zero-width characters by
        # name (<U+202E>, <U+200B>).
        for s in HOSTILE:
            self.assertIn(visible(s), purposes)
        self.assertIn("<U+202E>full_name", purposes)
        self.assertIn("full<U+200B>name &amp; &lt;b&gt;", purposes)
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "#audit-results img, #audit-results svg,"
                                                          " #audit-results script"), [])
        for rid in self.hostile_ids[:2]:
            self.search_request(d, rid)
            shown = d.find_element(By.CSS_SELECTOR, '#rec-fields dd[data-field="legal basis"]')
            self.assertIn(shown.get_attribute("textContent"), [visible(s) for s in HOSTILE])
        self.assertIsNone(d.execute_script("return window.__dxPwned"))
        self.shot(d, "audit-hostile")

        # A page of another site posts a form to the console in the same
        # browser, where an administrator is signed in.
        before = len(self.env.audit_records())
        revision = self.rpc(self.session("admin1"), "dx.v1.PolicyAdmin/List", {})[2]["revision"]
        target = f"{self.origin}/api/rpc/dx.v1.PolicyAdmin/Apply"

        class Evil(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                page = (f'<form method="POST" action="{target}" enctype="text/plain">'
                        '<input name=\'{"yaml":"datasets: []","comment":"x","a":"\' value=\'"}\'>'
                        '</form><script>document.forms[0].submit()</script>').encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

        evil = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
        threading.Thread(target=evil.serve_forever, daemon=True).start()
        try:
            a = self.sign_in(self.browser(), "admin1")
            a.get(f"http://localhost:{evil.server_address[1]}/")
            wait(a, lambda d: d.current_url.startswith(self.origin))
            wait(a, lambda d: "UNAUTHENTICATED" in d.page_source or "CSRF" in d.page_source)
        finally:
            evil.shutdown()
        refusals = [r for r in self.env.audit_records()[before:]
                    if r.get("admin_action") == "console.refused"
                    and "PolicyAdmin/Apply" in r.get("message", "")]
        self.assertTrue(refusals, "the cross-site POST left no refusal record")
        after = self.rpc(self.session("admin1"), "dx.v1.PolicyAdmin/List", {})[2]["revision"]
        self.assertEqual(after, revision)

    def test_7_the_overview_shows_an_adapter_that_fails(self):
        # Last: the business registry's adapter stops for good.
        self.env.stop_adapter("000.00.00.G12")
        h30 = Consumer(self.env)
        try:
            code, reason, _ = h30.refusal(dataset="mof.business", purpose="business-licensing")
            self.assertEqual(reason, "REASON_ADAPTER_UNAVAILABLE")
        finally:
            h30.close()
        d = self.sign_in(self.browser(), "auditor1")
        wait(d, lambda d: "FAILING" in d.find_element(By.ID, "ov-adapters").text)
        rows = {r.find_elements(By.TAG_NAME, "td")[0].text: r.text
                for r in d.find_elements(By.CSS_SELECTOR, "#ov-adapters tr")[1:]}
        self.assertIn("FAILING", rows["mof.business"])
        self.assertIn("adapter_unavailable", rows["mof.business"])
        self.assertNotIn("FAILING", rows["bca.population"])
        minutes = d.find_element(By.ID, "ov-minutes").text
        self.assertRegex(minutes, r"\d{4}-\d\d-\d\d \d\d:\d\d")
        self.shot(d, "overview")

    def test_8_a_flood_of_refusals_is_answered_429_and_counted(self):
        # Last: this address's budget of recorded refusals is spent. 65
        # requests without a session: even across a minute's end (two
        # budgets of 30), some must be answered 429.
        began = time.time()
        answers = [self.http("POST", "/api/rpc/dx.v1.Audit/Query", {}) for _ in range(65)]
        statuses = [a[0] for a in answers]
        print(f"\nflood at {began % 60:.1f}..{time.time() % 60:.1f} s of a minute: "
              f"{statuses.count(401)} x 401, {statuses.count(429)} x 429", file=sys.stderr)
        self.assertLessEqual(set(statuses), {401, 429}, statuses)
        self.assertLessEqual(statuses.count(401), 60, statuses)
        over = [a for a in answers if a[0] == 429]
        self.assertTrue(over, statuses)
        self.assertTrue(1 <= int(over[0][1]["Retry-After"]) <= 60, over[0][1])
        self.assertEqual(over[0][2]["code"], "RESOURCE_EXHAUSTED")
        self.assertIn("too many refused requests from 127.0.0.1", over[0][2]["message"])
        flagged = [r for r in self.admin_records("console.refused")
                   if "over 30 refused requests a minute from 127.0.0.1" in r["message"]]
        self.assertTrue(flagged)
        # The count is recorded once the minute is over (seen at the next
        # refusal): every refusal is in the log, alone or counted.
        time.sleep(60 - time.time() % 60 + 0.5)
        self.assertEqual(self.http("POST", "/api/rpc/dx.v1.Audit/Query", {})[0], 401)
        refused = self.admin_records("console.refused")
        counted = [r for r in refused
                   if "more refused request(s) from 127.0.0.1" in r["message"]]
        self.assertTrue(counted, refused[-3:])
        # Nobody's identity was verified: the records say so.
        self.assertFalse([r for r in flagged + counted if r.get("identity_verified")])
        total = sum(int(r["message"].split(" ", 1)[0]) for r in counted)
        self.assertEqual(total, len(over))


if __name__ == "__main__":
    unittest.main()
