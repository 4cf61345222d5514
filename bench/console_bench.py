"""The web console's figures (issue: a web console), `make bench-console`:

1. Server time of the audit search page over --records records (default
   10 million, filled with bench/audit_fill.cc and signed by the gateway's
   log key, then a real gateway with its console started on them): the
   page's requests as the browser sends them (HTTPS, session cookie, CSRF
   token, JSON), p50 and p99 over --runs of each, interleaved, beside the
   same query over gRPC straight to the Audit service from Python's grpcio
   (which parses every record in Python: a slower client than a browser's
   JSON.parse, so the ratio can be below 1).
2. The weight of each page: the bytes of its assets as served.
3. First render in headless Chromium: first contentful paint and
   DOMContentLoaded of the signed-in overview, median of --loads.
Prints figures; asserts nothing (docs/PERFORMANCE.md#the-web-console)."""
import argparse
import http.client
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from tests.harness import CONSOLE_SETTINGS, DevEnv  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--root", default=os.path.join(REPO, "var", "console-bench"))
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--loads", type=int, default=5)
    a = ap.parse_args()
    build = os.path.abspath(a.build_dir)
    sys.path.insert(0, os.path.join(build, "python"))
    import grpc
    from dx.v1 import audit_pb2, audit_pb2_grpc

    root = os.path.abspath(a.root)
    shutil.rmtree(root, ignore_errors=True)
    env = DevEnv(root, build, population=1000, business=100,
                 gateway_settings={"console": CONSOLE_SETTINGS}).setup()
    try:
        t0 = time.time()
        fill = subprocess.run(
            [os.path.join(build, "bench", "dx_audit_fill"), "--data-dir", env.data_dir,
             "--node", "gw1", "--records", str(a.records),
             "--start-micros", str(int((time.time() - 3 * 86400) * 1e6)),
             "--key", f"{env.pki}/gateway/sign.key", "--cert", f"{env.pki}/gateway/sign.pem"])
        if fill.returncode != 0:
            raise SystemExit("dx_audit_fill failed")
        print(f"filled {a.records:,} records in {time.time() - t0:.0f} s")
        env.start()
        origin = env.console_url()
        port = int(origin.rsplit(":", 1)[1])
        ctx = ssl.create_default_context(cafile=os.path.join(env.pki, "root-ca.pem"))
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)

        def request(method, path, body=None, headers=None):
            h = {"Content-Type": "application/json"}
            h.update(headers or {})
            conn.request(method, path, body, h)
            r = conn.getresponse()
            return r.status, r.getheaders(), r.read()

        link = env.dxctl("console", "login", "--console", origin, "--pki", env.pki,
                         "--person", "auditor1")
        code = link.stdout.strip().split("#sign-in=")[-1]
        status, headers, body = request("POST", "/api/session", json.dumps({"code": code}))
        assert status == 200, body
        cookie = dict(headers)["Set-Cookie"].split(";")[0]
        csrf = json.loads(body)["csrf_token"]
        session = {"Cookie": cookie, "X-DX-CSRF": csrf}

        def read(p):
            with open(os.path.join(env.pki, p), "rb") as f:
                return f.read()
        stub = audit_pb2_grpc.AuditStub(grpc.secure_channel(env.gateway, grpc.ssl_channel_credentials(
            read("root-ca.pem"), read("people/auditor1/tls.key"), read("people/auditor1/tls.pem"))))

        # What the page asks: the audit search's queries, as the form makes them.
        first = next(m.record for m in stub.Query(audit_pb2.AuditQuery(page_size=1), timeout=60)
                     if m.HasField("record"))
        t_mid = first.record.time_unix_micros + a.records // 2 * 1000
        some_request = next(m.record for m in stub.Query(audit_pb2.AuditQuery(
            from_unix_micros=t_mid, page_size=1), timeout=60) if m.HasField("record"))
        queries = {
            "consumer + 1 h range, page of 50": {
                "consumer_agency": first.record.consumer_agency,
                "from_unix_micros": t_mid, "to_unix_micros": t_mid + 3_600_000_000,
                "page_size": 50},
            "request id": {"request_id": some_request.record.request_id, "page_size": 50},
            "refusals, page of 50": {"decision": "DECISION_DENY", "page_size": 50},
            "no filter, page of 50": {"page_size": 50},
        }
        proof_seq = some_request.sequence_number
        times = {k: ([], []) for k in list(queries) + ["inclusion proof"]}
        for i in range(a.runs + 5):
            for name, q in queries.items():
                s = time.perf_counter()
                status, _, body = request("POST", "/api/rpc/dx.v1.Audit/Query", json.dumps(q),
                                          session)
                http_ms = (time.perf_counter() - s) * 1000
                assert status == 200, body[:300]
                s = time.perf_counter()
                n = sum(1 for m in stub.Query(audit_pb2.AuditQuery(**{
                    k: (v if k != "decision" else audit_pb2.DECISION_DENY)
                    for k, v in q.items()}), timeout=60) if m.HasField("record"))
                grpc_ms = (time.perf_counter() - s) * 1000
                assert n >= 1
                if i >= 5:  # warm-up
                    times[name][0].append(http_ms)
                    times[name][1].append(grpc_ms)
            s = time.perf_counter()
            status, _, body = request("POST", "/api/rpc/dx.v1.Audit/GetInclusionProof",
                                      json.dumps({"sequence_number": proof_seq}), session)
            http_ms = (time.perf_counter() - s) * 1000
            assert status == 200, body[:300]
            s = time.perf_counter()
            stub.GetInclusionProof(audit_pb2.GetInclusionProofRequest(
                sequence_number=proof_seq), timeout=60)
            grpc_ms = (time.perf_counter() - s) * 1000
            if i >= 5:
                times["inclusion proof"][0].append(http_ms)
                times["inclusion proof"][1].append(grpc_ms)

        print(f"\n1. audit search over {a.records:,} records, {a.runs} requests each, "
              "interleaved (ms; target: page p99 < 100)")
        print(f"   {'request':36} {'console p50':>11} {'p99':>7} {'gRPC p50':>9} {'p99':>7} "
              f"{'ratio p50':>9}")
        for name, (h, g) in times.items():
            print(f"   {name:36} {statistics.median(h):11.2f} {pct(h, 99):7.2f} "
                  f"{statistics.median(g):9.2f} {pct(g, 99):7.2f} "
                  f"{statistics.median(h) / statistics.median(g):9.2f}")

        print("\n2. page weight (bytes as served, before and with gzip; target < 300 KB)")
        total = total_gz = 0
        for path in ["/", "/assets/app.js", "/assets/verify.js", "/assets/app.css",
                     "/assets/icon.svg"]:
            _, _, raw = request("GET", path)
            _, hdrs, gz = request("GET", path, headers={"Accept-Encoding": "gzip"})
            total += len(raw)
            total_gz += len(gz)
            print(f"   {path:22} {len(raw):7,} {len(gz):7,}"
                  f"{'  (' + dict(hdrs).get('Content-Encoding', 'identity') + ')'}")
        print(f"   {'every page (one page app)':22} {total:7,} {total_gz:7,}")

        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        spki = subprocess.run(
            f"openssl x509 -in {env.pki}/gateway/tls.pem -pubkey -noout | openssl pkey -pubin"
            " -outform der | openssl dgst -sha256 -binary | base64", shell=True,
            capture_output=True, text=True, check=True).stdout.strip()
        o = webdriver.ChromeOptions()
        o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--user-data-dir={tempfile.mkdtemp(dir=root)}", "--window-size=1280,1000",
                    f"--ignore-certificate-errors-spki-list={spki}"]:
            o.add_argument(arg)
        d = webdriver.Chrome(service=Service(shutil.which("chromedriver") or
                                             "/usr/bin/chromedriver"), options=o)
        try:
            link = env.dxctl("console", "login", "--console", origin, "--pki", env.pki,
                             "--person", "auditor1")
            d.get(link.stdout.strip().splitlines()[-1])
            WebDriverWait(d, 30).until(lambda d: d.find_element(By.ID, "who").text)
            paints, dcls, tables = [], [], []
            for _ in range(a.loads):
                d.get("about:blank")
                d.get(f"{origin}/#overview")
                WebDriverWait(d, 60).until(
                    lambda d: d.find_elements(By.CSS_SELECTOR, "#ov-certs tr"))
                nav = d.execute_script(
                    "const n = performance.getEntriesByType('navigation')[0];"
                    "const p = performance.getEntriesByName('first-contentful-paint')[0];"
                    "return [p ? p.startTime : -1, n.domContentLoadedEventEnd, performance.now()]")
                paints.append(nav[0])
                dcls.append(nav[1])
                tables.append(nav[2])
            print(f"\n3. first render of the overview in headless Chromium, median of {a.loads} "
                  "(target < 1000 ms)")
            print(f"   first contentful paint {statistics.median(paints):7.0f} ms")
            print(f"   DOMContentLoaded       {statistics.median(dcls):7.0f} ms")
            print(f"   tables filled          {statistics.median(tables):7.0f} ms "
                  "(one audit query of the last hour, node status)")
        finally:
            d.quit()
    finally:
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
