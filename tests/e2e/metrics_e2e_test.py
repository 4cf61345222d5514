"""Metrics an operator's Prometheus reads (issue: operations, items 1-2).

A real Prometheus (Debian's), started here on loopback with a 1 s scrape
interval and the alert rules of deploy/prometheus/alerts.yml, scrapes a
gateway under traffic whose TLS certificate runs out in 5 days: the test
asks its HTTP API for the exchange rate, a stage latency quantile and the
alerts. A scripted run (an allowed call, a refusal, an adapter down) checks
that every family moves the way it should."""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
from tests.harness import DevEnv, free_ports  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value} from the text exposition format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not an exposition line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    """The sum of `name` over the series whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def rss_mb(pid):
    """A process's resident memory, MB (/proc/PID/status VmRSS)."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-metrics-")
        cls.env = DevEnv(
            cls.tmp.name, BUILD, population=50, business=10,
            gateway_settings={"metrics": "{listen_address: '127.0.0.1:0', "
                                         "port_file: metrics.port}",
                              "log_format": "json"},
            adapter_settings="metrics: {listen_address: '127.0.0.1:0', "
                             "port_file: adapter-{name}.metrics.port}\n"
                             "log_format: json\n").setup()
        # The node's certificates, reissued to run out in 5 days.
        cls.env.pki_cmd("gateway", "gw1", "5")
        for f in ("tls.pem", "tls.key", "sign.pem", "sign.key"):
            shutil.copy(os.path.join(cls.env.pki, "gateways", "gw1", f),
                        os.path.join(cls.env.pki, "gateway", f))
        cls.env.start()
        cls.metrics_port = cls.read_port("metrics.port")
        cls.adapter_metrics_port = cls.read_port("adapter-population.metrics.port")
        cls.prometheus = None

    @classmethod
    def read_port(cls, name):
        # The metrics port file is written just after the gRPC port's.
        path = os.path.join(cls.env.root, name)
        deadline = time.time() + 20
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.05)
        with open(path) as f:
            return int(f.read())

    @classmethod
    def tearDownClass(cls):
        if cls.prometheus is not None:
            cls.prometheus.terminate()
            try:
                cls.prometheus.wait(20)
            except subprocess.TimeoutExpired:
                cls.prometheus.kill()
        cls.env.close()
        cls.tmp.cleanup()

    def scrape(self, port=None):
        status, text = http_get(f"http://127.0.0.1:{port or self.metrics_port}/metrics")
        self.assertEqual(status, 200)
        return parse(text)

    # ------------------------------------------------------- scripted run --
    def test_every_family_moves_the_right_way(self):
        before = self.scrape()
        self.assertEqual(value(before, "dx_serving"), 1)
        self.assertEqual(value(before, "dx_build_info", node="gw1"), 1)
        for family in ("dx_exchanges_in_flight", "dx_overload_refusals_total",
                       "dx_replay_guard_entries", "dx_audit_records_total",
                       "dx_audit_log_bytes", "dx_audit_disk_free_bytes",
                       "dx_audit_min_free_bytes", "dx_policy_revision",
                       "dx_registry_revision"):
            self.assertIn(family, {n for n, _ in before}, family)
        self.assertGreater(value(before, "dx_audit_log_bytes"), 0)
        self.assertGreaterEqual(value(before, "dx_policy_revision"), 1)
        # Seconds to expiry, of each certificate and CRL in use.
        tls = value(before, "dx_certificate_expiry_seconds", what="gateway TLS")
        self.assertTrue(4 * 86400 < tls < 5 * 86400, tls)
        self.assertGreater(value(before, "dx_certificate_expiry_seconds",
                                 what="trust anchor"), 365 * 86400)
        self.assertGreater(value(before, "dx_crl_next_update_seconds"), 86400)

        # An allowed call.
        r = self.env.call("000.00.00.H30", "hotich", "bca.population", "civil-registration",
                          "--query", "citizen_id=001000000000")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        after = self.scrape()
        allowed = dict(dataset="bca.population", decision="allow", reason="none",
                       kind="unary")
        self.assertEqual(value(after, "dx_exchanges_total", **allowed)
                         - value(before, "dx_exchanges_total", **allowed), 1)
        self.assertGreater(value(after, "dx_exchange_records_total", dataset="bca.population"),
                           value(before, "dx_exchange_records_total", dataset="bca.population"))
        for stage in ("verify", "replay", "policy", "adapter", "audit_commit", "sign"):
            self.assertEqual(
                value(after, "dx_exchange_stage_seconds_count", stage=stage)
                - value(before, "dx_exchange_stage_seconds_count", stage=stage), 1, stage)
        self.assertEqual(value(after, "dx_adapter_calls_total", dataset="bca.population",
                               outcome="OK")
                         - value(before, "dx_adapter_calls_total", dataset="bca.population",
                                 outcome="OK"), 1)
        fetch = dict(grpc_service="dx.v1.Exchange", grpc_method="Call", grpc_code="OK")
        self.assertEqual(value(after, "grpc_server_handled_total", **fetch)
                         - value(before, "grpc_server_handled_total", **fetch), 1)
        self.assertGreater(value(after, "dx_audit_records_total"),
                           value(before, "dx_audit_records_total"))
        # The adapter counts what it served.
        adapter = self.scrape(self.adapter_metrics_port)
        self.assertGreaterEqual(value(adapter, "dx_adapter_requests_total",
                                      dataset="bca.population", outcome="OK"), 1)
        self.assertGreaterEqual(value(adapter, "grpc_server_handled_total",
                                      grpc_service="dx.v1.Adapter", grpc_code="OK"), 1)
        self.assertGreater(value(adapter, "dx_certificate_expiry_seconds",
                                 what="adapter TLS"), 30 * 86400)

        # A refusal: a purpose the policy does not grant. Its reason is a
        # label; the request's own words are not.
        r = self.env.call("000.00.00.H30", "hotich", "bca.population", "marketing-x\"y",
                          "--query", "citizen_id=001000000000")
        self.assertNotEqual(r.returncode, 0)
        refused = self.scrape()
        self.assertEqual(value(refused, "dx_exchanges_total", dataset="bca.population",
                               decision="deny")
                         - value(after, "dx_exchanges_total", dataset="bca.population",
                                 decision="deny"), 1)
        self.assertFalse(any("marketing" in v for (_, ls) in refused for _, v in ls))
        # An unknown dataset is "unknown", not the name the caller made up.
        self.env.call("000.00.00.H30", "hotich", "no.such-dataset-xyz", "civil-registration")
        made_up = self.scrape()
        self.assertEqual(value(made_up, "dx_exchanges_total", dataset="unknown", decision="deny")
                         - value(refused, "dx_exchanges_total", dataset="unknown",
                                 decision="deny"), 1)
        self.assertFalse(any("no.such" in v for (_, ls) in made_up for _, v in ls))

        # The adapter down: an error, counted by the adapter's status.
        self.env.stop_adapter("000.00.00.G01")
        try:
            r = self.env.call("000.00.00.H30", "hotich", "bca.population",
                              "civil-registration", "--query", "citizen_id=001000000000")
            self.assertNotEqual(r.returncode, 0)
            down = self.scrape()
            self.assertEqual(value(down, "dx_exchanges_total", dataset="bca.population",
                                   decision="error")
                             - value(made_up, "dx_exchanges_total", dataset="bca.population",
                                     decision="error"), 1)
            self.assertEqual(value(down, "dx_adapter_calls_total", dataset="bca.population",
                                   outcome="Unavailable")
                             - value(made_up, "dx_adapter_calls_total", dataset="bca.population",
                                     outcome="Unavailable"), 1)
        finally:
            self.env.start_adapter("000.00.00.G01")
            type(self).adapter_metrics_port = self.read_port("adapter-population.metrics.port")
        status, body = http_get(f"http://127.0.0.1:{self.metrics_port}/healthz")
        self.assertEqual((status, body), (200, "SERVING\n"))

        # A stranger's failed TLS handshakes, each of which gRPC logs as an
        # error: they come as JSON lines of component "grpc", and a flood of
        # them is cut at 20 a minute (two minutes' worth if one turns).
        for _ in range(60):
            self.failed_handshake()

        # log_format: json: every line one object, gRPC's own included; the
        # refused and failed exchanges each a line with request id and audit
        # sequence number; never the data subject's id.
        with open(os.path.join(self.env.root, "logs", "gateway.log"), encoding="utf-8") as f:
            lines = [x for x in f.read().splitlines() if x.strip()]
        events = [json.loads(x) for x in lines]
        self.assertTrue(all({"time", "level", "component", "msg"} <= set(e) for e in events))
        grpc_lines = [e for e in events if e["component"] == "grpc"]
        self.assertGreaterEqual(len(grpc_lines), 1, lines[-5:])
        self.assertLessEqual(len(grpc_lines), 40, grpc_lines[:3])
        self.assertTrue(all(e["level"] == "error" and e["source"] for e in grpc_lines))
        # The adapter's log too, with log_format: json in its config.
        with open(os.path.join(self.env.root, "logs", "adapter-population.log"),
                  encoding="utf-8") as f:
            adapter_events = [json.loads(x) for x in f.read().splitlines() if x.strip()]
        self.assertIn(("dx-file-adapter", "dataset", "bca.population"),
                      {(e["component"], e["msg"], e.get("dataset")) for e in adapter_events})
        self.assertIn("serving", {e["msg"] for e in adapter_events})
        exchanges = [e for e in events if e["msg"] in ("exchange refused", "exchange failed")]
        by_reason = {e["reason"]: e for e in exchanges}
        self.assertIn("REASON_ADAPTER_UNAVAILABLE", by_reason, exchanges)
        for e in exchanges:
            self.assertTrue(e["request_id"])
            self.assertIsInstance(e["audit_sequence"], int)
            self.assertGreaterEqual(e["audit_sequence"], 0)
        self.assertNotIn("001000000000", "\n".join(lines))
        # The audit record at that sequence is that exchange.
        failed = by_reason["REASON_ADAPTER_UNAVAILABLE"]
        q = self.env.auditor("query", "--request-id", failed["request_id"],
                             "--format", "jsonl")
        self.assertEqual(q.returncode, 0, q.stdout + q.stderr)
        records = [json.loads(x) for x in q.stdout.splitlines() if x.startswith("{")]
        sequences = {int(v) for r in records for k, v in r.items() if "sequence" in k.lower()
                     and "start" not in k.lower()}
        self.assertIn(failed["audit_sequence"], sequences, q.stdout)

    def failed_handshake(self):
        """A TLS client without a certificate, which the gateway refuses."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.env.gateway_port), timeout=10) as raw:
            try:
                with ctx.wrap_socket(raw) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

    # --------------------------------------------------- real Prometheus --
    def start_prometheus(self):
        port, = free_ports(1)
        folder = os.path.join(self.env.root, "prometheus")
        os.makedirs(folder, exist_ok=True)
        shutil.copy(os.path.join(REPO, "deploy", "prometheus", "alerts.yml"), folder)
        config = os.path.join(folder, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""\
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [alerts.yml]
scrape_configs:
  - job_name: dxgate
    static_configs: [{{targets: ["127.0.0.1:{self.metrics_port}"]}}]
  - job_name: dx-adapter
    static_configs: [{{targets: ["127.0.0.1:{self.adapter_metrics_port}"]}}]
""")
        log = open(os.path.join(self.env.root, "logs", "prometheus.log"), "ab")
        type(self).prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(folder, 'data')}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
        self.prom = f"http://127.0.0.1:{port}"
        self.wait_for(lambda: http_get(self.prom + "/-/ready")[0] == 200, "Prometheus ready")

    def wait_for(self, check, what, timeout=90):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                got = check()
                if got:
                    return got
            except Exception as e:  # not up yet
                last = e
            time.sleep(0.5)
        self.fail(f"{what}: not seen within {timeout}s (last error: {last})")

    def query(self, expr):
        url = self.prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        _, body = http_get(url)
        data = json.loads(body)
        self.assertEqual(data["status"], "success", body)
        return data["data"]["result"]

    def test_prometheus_scrapes_rates_quantiles_and_alerts(self):
        self.start_prometheus()
        # Both targets up.
        self.wait_for(lambda: len([r for r in self.query("up == 1")]) == 2, "both targets up")
        load = subprocess.Popen(
            [self.env.bin("dxbench"), "--target", self.env.gateway, "--mode", "gateway",
             "--pki", self.env.pki, "--agency", "000.00.00.H30",
             "--query", "citizen_id=001000000000", "--concurrency", "4",
             "--rate", "50", "--duration", "20", "--warmup", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            rate = self.wait_for(
                lambda: [float(r["value"][1]) for r in self.query(
                    'sum(rate(dx_exchanges_total{decision="allow"}[5s]))')
                    if float(r["value"][1]) > 10], "a rate of allowed exchanges")
            self.assertGreater(rate[0], 10)
            p99 = self.wait_for(
                lambda: [float(r["value"][1]) for r in self.query(
                    'histogram_quantile(0.99, sum by (le) '
                    '(rate(dx_exchange_stage_seconds_bucket{stage="adapter"}[5s])))')
                    if r["value"][1] not in ("NaN", "+Inf")], "an adapter p99")
            self.assertGreater(p99[0], 0)  # a quantile, not a speed check
        finally:
            out, err = load.communicate(timeout=120)
        self.assertEqual(load.returncode, 0, out + err)

        def alerts():
            _, body = http_get(self.prom + "/api/v1/alerts")
            return json.loads(body)["data"]["alerts"]
        firing = self.wait_for(
            lambda: [a for a in alerts() if a["labels"]["alertname"] ==
                     "DxCertificateExpiresSoon" and a["state"] == "firing"],
            "the certificate expiry alert firing")
        self.assertEqual({a["labels"]["what"] for a in firing}, {"gateway TLS", "signing"})
        names = {a["labels"]["alertname"] for a in alerts()}
        self.assertFalse(names & {"DxGatewayNotServing", "DxGatewayDown",
                                  "DxAuditTreeHeadStale", "DxCertificateExpired"}, names)
        # Every query of the Grafana dashboard runs, and returns data.
        with open(os.path.join(REPO, "deploy", "grafana", "dxgate.json")) as f:
            dashboard = json.load(f)
        for panel in dashboard["panels"]:
            expr = panel["targets"][0]["expr"]
            self.assertTrue(self.query(expr), f"{panel['title']}: {expr} returned nothing")

    def test_z_the_port_holds_against_a_stranger(self):
        """Whoever reaches the metrics port (plain HTTP, no authentication):
        thousands of header lines, a chunked body of 64 MB, more idle
        connections than one address may hold, and a request trickled past
        its deadline. Each is refused at its bound and counted in
        dx_http_refused_total; another address is still served meanwhile,
        and the gateway's memory stays bounded. Runs last: it fills the
        port's connection slots for its own address."""
        port = self.metrics_port
        rss = lambda: rss_mb(self.env.procs["gateway"].pid)  # noqa: E731
        before_rss = rss()
        before = self.scrape()

        def answer_of(s):
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            return int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0

        # Thousands of header lines: 431 before they are all read.
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            for i in range(5000):
                s.sendall(b"X-Pad-%d: 1\r\n" % i)
            s.sendall(b"\r\n")
        except OSError:
            pass
        self.assertEqual(answer_of(s), 431)
        s.close()
        # A chunked body of 64 MB: 413 once past the port's 4 KiB; the
        # rest is not read.
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        sent = 0
        try:
            s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"
            for _ in range(64):
                s.sendall(chunk)
                sent += 1
        except OSError:
            pass
        self.assertEqual(answer_of(s), 413)
        s.close()
        self.assertLess(sent, 64, "the whole 64 MB was read")
        # 16 idle connections from 127.0.0.2 (one address's limit): the
        # 17th is refused at once, while 127.0.0.1 is still served.
        idle = [socket.create_connection(("127.0.0.1", port), timeout=30,
                                         source_address=("127.0.0.2", 0)) for _ in range(16)]
        try:
            extra = socket.create_connection(("127.0.0.1", port), timeout=30,
                                             source_address=("127.0.0.2", 0))
            try:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            except OSError:
                pass  # reset at once: expected
            self.assertEqual(answer_of(extra), 0, "a 17th connection of one address was served")
            extra.close()
            self.assertEqual(http_get(f"http://127.0.0.1:{port}/healthz")[0], 200)
        finally:
            for c in idle:
                c.close()
        # A request trickled one byte at a time is cut at its deadline
        # (5 s): the connection is closed without an answer, or with 408.
        s = socket.create_connection(("127.0.0.1", port), timeout=60,
                                     source_address=("127.0.0.3", 0))
        cut = False
        for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60:
            try:
                s.send(bytes([b]))
            except OSError:
                cut = True
                break
            time.sleep(0.25)
        if not cut:
            self.assertIn(answer_of(s), (0, 408), "a request past its deadline was answered")
        s.close()

        after = self.scrape()
        for reason, least in (("too_large", 2), ("connection_limit", 1), ("timed_out", 1)):
            got = (value(after, "dx_http_refused_total", server="metrics", reason=reason)
                   - value(before, "dx_http_refused_total", server="metrics", reason=reason))
            self.assertGreaterEqual(got, least, f"{reason}: {got}")
        grown = rss() - before_rss
        print(f"\ngateway RSS grew by {grown:.1f} MB across the metrics port's abuses",
              file=sys.stderr)
        # Under AddressSanitizer freed memory waits in its quarantine.
        self.assertLess(grown, 32 + (256 if os.environ.get("ASAN_OPTIONS") else 0))

    def test_rules_pass_promtool(self):
        folder = os.path.join(REPO, "deploy", "prometheus")
        for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"],
                     ["check", "config", "prometheus.yml"]):
            r = subprocess.run(["promtool", *args], cwd=folder, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
