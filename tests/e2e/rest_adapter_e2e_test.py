"""dx-rest-adapter against a provider's HTTP/JSON service (issue: adapters
for the providers' real systems). The service is a real HTTP server on
loopback that answers well, slowly, with 404 or 500, with invalid JSON, a
huge body, a redirect to another host, and page chains; a second server
stands for "another host" and counts every request it gets. The adapter
and the gateway are real processes over mutual TLS."""
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from consumer import H30, Consumer  # noqa: E402
from dx.v1 import errors_pb2, exchange_pb2  # noqa: E402
from tests.harness import DevEnv, test_dataset_entry, test_policy_entry  # noqa: E402
from grpc_status import detail_of  # noqa: E402

G01, G12 = "000.00.00.G01", "000.00.00.G12"
TAXPAYER = {"mst": "0101234567", "ten_nnt": "Công ty TNHH Ánh Dương", "trang_thai": None,
            "von": 12345678901234567890.10, "noi_bo": "internal only"}


MANY = b'{"data": [' + b",".join([b"{}"] * ((8 << 20) // 3)) + b"]}"


def page_records(page):
    return [{"mst": f"{page}{i}", "ten_nnt": f"Doanh nghiệp {page}-{i}", "noi_bo": "x"}
            for i in range(2)]


class Service(BaseHTTPRequestHandler):
    """The provider's service; `server.other` is the other host's address."""
    def log_message(self, *args):
        pass

    def send(self, status, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.paths.append(self.path)
        if isinstance(self.connection, ssl.SSLSocket):
            peer = self.connection.getpeercert() or {}
            self.server.peers.append([v for _, v in peer.get("subjectAltName", ())])
        url = urlsplit(self.path)
        parts = url.path.split("/")
        q = parse_qs(url.query)
        mode = parts[1] if len(parts) > 1 else ""
        code = parts[2] if len(parts) > 2 else ""
        if mode == "taxpayers":
            if code == TAXPAYER["mst"]:
                # The decimal written as the provider wrote it, not rounded.
                body = json.dumps({"data": TAXPAYER}).replace(
                    "1.2345678901234567e+19", "12345678901234567890.10")
                return self.send(200, body.encode())
            return self.send(404, {"error": "not found"})
        if mode == "slow":
            time.sleep(3)
            return self.send(200, {"data": TAXPAYER})
        if mode == "error":
            return self.send(500, {"error": "database down"})
        if mode == "empty":  # 200 with no body at all
            return self.send(200, b"")
        if mode == "many":  # 8 MiB of empty records
            return self.send(200, MANY)
        if mode == "bigchain":  # an endless chain of 6 MiB pages
            n = int(q.get("n", ["1"])[0])
            return self.send(200, json.dumps({
                "items": [{"mst": f"{n}-{i}", "ten_nnt": "x" * (1 << 20)} for i in range(6)],
                "next": f"/bigchain/x?n={n + 1}"}).encode())
        if mode == "garbage":
            return self.send(200, b"<html>not json {", "text/html")
        if mode == "huge":
            return self.send(200, {"data": TAXPAYER, "pad": "x" * (4 << 20)})
        if mode == "redirect":
            return self.send(302, b"", headers=[
                ("Location", f"http://{self.server.other}/taxpayers/{code}")])
        if mode == "pages":  # page-number paging: 3 pages, then an empty one
            page = int(q.get("page", ["0"])[0])
            return self.send(200, {"items": page_records(page) if page <= 3 else []})
        if mode == "chain":  # next links, relative then absolute
            cursor = int(q.get("cursor", ["1"])[0])
            nxt = (f"/chain/x?cursor={cursor + 1}" if cursor == 1 else
                   f"http://{self.server.address}/chain/x?cursor={cursor + 1}"
                   if cursor == 2 else None)
            return self.send(200, {"items": page_records(cursor), "next": nxt})
        if mode == "escape":  # a next link to another host
            return self.send(200, {"items": page_records(1),
                                   "next": f"http://{self.server.other}/chain/x?cursor=2"})
        return self.send(404, {})


def serve(tls=None):
    """An HTTP service on loopback; `tls` = (cert chain, key, client CA or
    None) makes it HTTPS, asking for a client certificate when a CA is given."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    server.paths = []
    server.peers = []  # the client certificates' SANs, per request
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        if tls[2]:
            ctx.load_verify_locations(tls[2])
            ctx.verify_mode = ssl.CERT_REQUIRED
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.handle_error = lambda request, address: None  # resets by the adapter are expected
    server.address = f"127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


FIELDS = """
    fields:
      - {name: tax_code, pointer: /mst}
      - {name: name, pointer: /ten_nnt}
      - {name: status, pointer: /trang_thai}
      - {name: capital, pointer: /von}"""
LOOKUPS = ["taxpayers", "slow", "error", "garbage", "huge", "redirect", "empty"]


def memory(pid, field):
    """VmHWM or VmRSS of a process, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # VmHWM back to the current RSS


class RestAdapterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-rest-")
        cls.service, cls.other = serve(), serve()
        cls.service.other = cls.other.address
        cls.env = DevEnv(cls.tmp.name, BUILD, population=20, business=20)
        try:
            cls.env.setup()
            pki = cls.env.pki
            # HTTPS with a certificate of the dev PKI that wants the adapter's
            # client certificate; and one with a certificate nobody trusts.
            cls.https = serve((f"{pki}/adapters/{G12}/tls.pem", f"{pki}/adapters/{G12}/tls.key",
                               f"{pki}/root-ca.pem"))
            cls.https.other = cls.other.address
            rogue = os.path.join(cls.tmp.name, "rogue")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", rogue + ".key",
                            "-out", rogue + ".pem", "-subj", "/CN=localhost", "-addext",
                            "subjectAltName=DNS:localhost", "-days", "1"],
                           check=True, capture_output=True)
            cls.untrusted = serve((rogue + ".pem", rogue + ".key", None))
            cls.untrusted.other = cls.other.address
            cls.start_rest_adapter()
            extra = "".join(
                test_dataset_entry(f"test.rest_{m}", ["tax_code", "name", "status", "capital"],
                                   3000, cls.port, G01) for m in LOOKUPS)
            extra += "".join(test_dataset_entry(f"test.rest_{m}", ["tax_code", "name"], 3000,
                                                cls.port, G01)
                             for m in ("pages", "chain", "escape", "many"))
            # Tens of MiB through the adapter before its answer budget stops it.
            extra += test_dataset_entry("test.rest_bigchain", ["tax_code", "name"], 60000,
                                        cls.port, G01)
            extra += "".join(test_dataset_entry(f"test.rest_{m}", ["tax_code", "name"], 3000,
                                                cls.port, G01)
                             for m in ("https", "untrusted"))
            datasets = [f"test.rest_{m}" for m in
                        LOOKUPS + ["pages", "chain", "escape", "https", "untrusted",
                                   "many", "bigchain"]]
            cls.env.start_gateway(extra_datasets=extra, extra_policies="".join(
                test_policy_entry(d, H30) for d in datasets))
            cls.consumer = Consumer(cls.env)
        except Exception:
            cls.env.close()
            raise

    @classmethod
    def start_rest_adapter(cls):
        env = cls.env
        base = f"http://{cls.service.address}"
        datasets = "".join(f"""
  - dataset_id: test.rest_{m}
    url: {base}/{m}/{{tax_code}}
    query_keys: [{{key: tax_code, required: true}}]
    records_pointer: /data{FIELDS}
    timeout_ms: 800
    max_response_bytes: 1048576
    headers: {{Accept: application/json}}""" for m in LOOKUPS)
        datasets += f"""
  - dataset_id: test.rest_pages
    url: {base}/pages/x
    records_pointer: /items
    fields: [{{name: tax_code, pointer: /mst}}, {{name: name, pointer: /ten_nnt}}]
    paging: {{page_param: page, first_page: 1}}
  - dataset_id: test.rest_chain
    url: {base}/chain/x
    records_pointer: /items
    fields: [{{name: tax_code, pointer: /mst}}, {{name: name, pointer: /ten_nnt}}]
    paging: {{next_pointer: /next}}
  - dataset_id: test.rest_many
    url: {base}/many/x
    records_pointer: /data
    fields: [{{name: tax_code, pointer: /mst}}, {{name: name, pointer: /ten_nnt}}]
    max_response_bytes: 16777216
  - dataset_id: test.rest_bigchain
    url: {base}/bigchain/x
    records_pointer: /items
    fields: [{{name: tax_code, pointer: /mst}}, {{name: name, pointer: /ten_nnt}}]
    paging: {{next_pointer: /next}}
  - dataset_id: test.rest_escape
    url: {base}/escape/x
    records_pointer: /items
    fields: [{{name: tax_code, pointer: /mst}}, {{name: name, pointer: /ten_nnt}}]
    paging: {{next_pointer: /next}}
"""
        for name, server in (("https", cls.https), ("untrusted", cls.untrusted)):
            datasets += f"""
  - dataset_id: test.rest_{name}
    url: https://localhost:{server.server_address[1]}/taxpayers/{{tax_code}}
    query_keys: [{{key: tax_code, required: true}}]
    records_pointer: /data
    fields: [{{name: tax_code, pointer: /mst}}, {{name: name, pointer: /ten_nnt}}]
"""
        cls.port = env.start_custom_adapter("rest", "dx-rest-adapter", G01, f"""\
upstream:
  ca_file: pki/root-ca.pem
  cert_file: pki/adapters/{G01}/tls.pem
  key_file: pki/adapters/{G01}/tls.key
datasets:""" + datasets)

    @classmethod
    def tearDownClass(cls):
        cls.consumer.close()
        cls.env.close()
        for server in (cls.service, cls.other, cls.https, cls.untrusted):
            server.shutdown()
        cls.tmp.cleanup()

    def lookup(self, mode, code=TAXPAYER["mst"], **kw):
        return self.consumer.call(dataset=f"test.rest_{mode}", purpose="testing",
                                  query={"tax_code": code}, **kw)

    def refused(self, mode, code=TAXPAYER["mst"], method="call"):
        query = {"tax_code": code} if mode in LOOKUPS else {}
        return self.consumer.refusal(method, dataset=f"test.rest_{mode}", purpose="testing",
                                     query=query)

    def test_answer_is_mapped_field_by_field_and_nothing_else_reaches_the_consumer(self):
        resp = self.consumer.stub.Call(self.consumer.signed(
            dataset="test.rest_taxpayers", purpose="testing",
            query={"tax_code": TAXPAYER["mst"]}), timeout=20)
        env = exchange_pb2.ResponseEnvelope.FromString(resp.envelope)
        self.assertEqual(list(env.records.columns), ["tax_code", "name", "status", "capital"])
        self.assertEqual([Consumer.values(r) for r in env.records.rows],
                         [["0101234567", "Công ty TNHH Ánh Dương", None,
                           "12345678901234567890.10"]])
        self.assertNotIn(b"internal only", resp.envelope)
        # Projection: only the asked field comes back.
        cols, rows = self.lookup("taxpayers", fields=["name"])
        self.assertEqual((cols, rows), (["name"], [["Công ty TNHH Ánh Dương"]]))

    def test_https_with_a_client_certificate(self):
        _, rows = self.consumer.call(dataset="test.rest_https", purpose="testing",
                                     query={"tax_code": TAXPAYER["mst"]})
        self.assertEqual(rows, [[TAXPAYER["mst"], TAXPAYER["ten_nnt"]]])
        self.assertIn(f"urn:dx:adapter:{G01}", self.https.peers[-1])  # ours, verified

    def test_a_service_whose_certificate_does_not_verify_gets_no_request(self):
        code, reason, details = self.consumer.refusal(
            dataset="test.rest_untrusted", purpose="testing",
            query={"tax_code": TAXPAYER["mst"]})
        self.assertEqual((code, reason),
                         (grpc.StatusCode.UNAVAILABLE, "REASON_ADAPTER_UNAVAILABLE"))
        self.assertIn("certificate", details)
        self.assertEqual(self.untrusted.paths, [])

    def test_404_is_no_record(self):
        self.assertEqual(self.lookup("taxpayers", code="0000000000")[1], [])

    def test_values_are_encoded_into_their_place_only(self):
        before = len(self.service.paths)
        _, rows = self.lookup("taxpayers", code="0101234567/../../admin?x=1#y")
        self.assertEqual(rows, [])
        self.assertEqual(self.service.paths[before:],
                         ["/taxpayers/0101234567%2F..%2F..%2Fadmin%3Fx%3D1%23y"])
        code, reason, details = self.consumer.refusal(
            dataset="test.rest_taxpayers", purpose="testing",
            query={"tax_code": "1", "url": "http://evil"})
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("unknown query key 'url'", details)
        code, _, details = self.consumer.refusal(dataset="test.rest_taxpayers",
                                                 purpose="testing", query={})
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("'tax_code' is required", details)

    def test_dot_and_empty_values_never_leave_their_segment(self):
        # /empty/{tax_code} with ".." would be "/" at the service, "." the
        # listing "/empty/", "" the same: none of them is sent at all.
        before = list(self.service.paths)
        for value in ("..", ".", ""):
            code, reason, details = self.consumer.refusal(
                dataset="test.rest_taxpayers", purpose="testing", query={"tax_code": value})
            self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, details)
            self.assertIn("path segment", details)
        self.assertEqual(self.service.paths, before)
        self.assertEqual(self.other.paths, [])

    def test_an_empty_200_body_is_an_adapter_error(self):
        code, reason, details = self.refused("empty")
        self.assertEqual((code, reason), (grpc.StatusCode.UNAVAILABLE, "REASON_ADAPTER_ERROR"))
        self.assertIn("not JSON", details)

    def test_millions_of_empty_records_for_five_asked_keep_memory_bounded(self):
        adapter = self.env.procs["adapter-rest"].pid
        reset_peak(adapter)
        before = memory(adapter, "VmRSS")
        resp = self.consumer.stub.Call(self.consumer.signed(
            dataset="test.rest_many", purpose="testing", max_records=5), timeout=60)
        env = exchange_pb2.ResponseEnvelope.FromString(resp.envelope)
        growth = memory(adapter, "VmHWM") - before
        print(f"\n  2.8 M empty records, 5 asked: adapter peak +{growth} MiB", file=sys.stderr)
        self.assertEqual(len(env.records.rows), 5)
        # Cut short by the caller's own max_records, and the answer says so.
        self.assertEqual(env.truncated, exchange_pb2.TRUNCATION_CALLER_MAX_RECORDS)
        if not os.environ.get("ASAN_OPTIONS"):
            self.assertLess(growth, 80)  # the 8 MiB body, read once (was +957 MiB)
        # An answer that holds every matching record does not say so.
        resp = self.consumer.stub.Call(self.consumer.signed(
            dataset="test.rest_taxpayers", purpose="testing",
            query={"tax_code": TAXPAYER["mst"]}, max_records=5), timeout=20)
        env = exchange_pb2.ResponseEnvelope.FromString(resp.envelope)
        self.assertEqual((len(env.records.rows), env.truncated),
                         (1, exchange_pb2.TRUNCATION_NONE))

    def test_an_endless_chain_of_large_pages_is_bounded_and_audited_as_refused(self):
        adapter = self.env.procs["adapter-rest"].pid
        gateway = self.env.procs["gateway"].pid
        for pid in (adapter, gateway):
            reset_peak(pid)
        before = {pid: memory(pid, "VmRSS") for pid in (adapter, gateway)}
        request = self.consumer.signed(dataset="test.rest_bigchain", purpose="testing")
        request_id = exchange_pb2.RequestEnvelope.FromString(request.envelope).request_id
        with self.assertRaises(grpc.RpcError) as ctx:
            self.consumer.stub.Call(request, timeout=60)
        detail = detail_of(ctx.exception)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED,
                         ctx.exception.details())
        self.assertEqual(errors_pb2.ReasonCode.Name(detail.reason), "REASON_ANSWER_TOO_LARGE")
        self.assertIn("max_response_bytes", ctx.exception.details())
        growth = {pid: memory(pid, "VmHWM") - before[pid] for pid in (adapter, gateway)}
        print(f"\n  endless chain of 6 MiB pages: adapter peak +{growth[adapter]} MiB, "
              f"gateway peak +{growth[gateway]} MiB", file=sys.stderr)
        if not os.environ.get("ASAN_OPTIONS"):
            self.assertLess(growth[adapter], 150)  # the 64 MiB answer budget, then refused (was +367 MiB for 30 pages)
            self.assertLess(growth[gateway], 50)  # it never received the answer
        # The record says what the consumer got: the same refusal, not ALLOW.
        [record] = [r for r in self.env.audit_records() if r.get("request_id") == request_id]
        self.assertEqual(record["decision"], "DECISION_ERROR")
        self.assertEqual(record["reason"], "REASON_ANSWER_TOO_LARGE")
        self.assertEqual(record["status_code"], grpc.StatusCode.RESOURCE_EXHAUSTED.value[0])

    def test_a_header_value_with_a_line_break_stops_the_adapter_at_start(self):
        os.environ["DX_TEST_BAD_TOKEN"] = "Bearer abc\r\nX-Admin: 1"
        before = len(self.service.paths)
        try:
            with self.assertRaises(RuntimeError) as ctx:
                self.env.start_custom_adapter("rest-bad", "dx-rest-adapter", G01, f"""\
datasets:
  - dataset_id: test.rest_bad
    url: http://{self.service.address}/taxpayers/{{tax_code}}
    query_keys: [{{key: tax_code, required: true}}]
    fields: [{{name: tax_code, pointer: /mst}}]
    header_env: {{Authorization: DX_TEST_BAD_TOKEN}}
""")
        finally:
            del os.environ["DX_TEST_BAD_TOKEN"]
        message = str(ctx.exception)
        self.assertIn("exited", message)  # refused to start, not served
        self.assertIn("line break", message)
        self.assertIn("DX_TEST_BAD_TOKEN", message)
        self.assertEqual(len(self.service.paths), before)

    def test_slow_service_times_out(self):
        code, reason, _ = self.refused("slow")
        self.assertEqual((code, reason),
                         (grpc.StatusCode.DEADLINE_EXCEEDED, "REASON_ADAPTER_TIMEOUT"))

    def test_500_is_unavailable(self):
        code, reason, details = self.refused("error")
        self.assertEqual((code, reason),
                         (grpc.StatusCode.UNAVAILABLE, "REASON_ADAPTER_UNAVAILABLE"))
        self.assertIn("500", details)

    def test_invalid_json_and_huge_body_are_adapter_errors(self):
        code, reason, details = self.refused("garbage")
        self.assertEqual((code, reason), (grpc.StatusCode.UNAVAILABLE, "REASON_ADAPTER_ERROR"))
        self.assertIn("not JSON", details)
        code, reason, details = self.refused("huge")
        self.assertEqual((code, reason), (grpc.StatusCode.UNAVAILABLE, "REASON_ADAPTER_ERROR"))
        self.assertIn("larger than 1048576 bytes", details)

    def test_redirect_to_another_host_is_not_followed(self):
        code, reason, details = self.refused("redirect")
        self.assertEqual((code, reason), (grpc.StatusCode.UNAVAILABLE, "REASON_ADAPTER_ERROR"))
        self.assertIn("redirects are not followed", details)
        self.assertEqual(self.other.paths, [])

    def test_page_chains_are_followed_for_streams(self):
        want = [[r["mst"], r["ten_nnt"]] for p in (1, 2, 3) for r in page_records(p)]
        self.assertEqual(self.consumer.stream(dataset="test.rest_pages", purpose="testing")[1],
                         want)
        before = len(self.service.paths)
        self.assertEqual(self.consumer.stream(dataset="test.rest_chain", purpose="testing")[1],
                         want)
        self.assertEqual([urlsplit(p).query for p in self.service.paths[before:]],
                         ["", "cursor=2", "cursor=3"])

    def test_a_next_link_to_another_host_is_refused(self):
        code, reason, details = self.refused("escape", method="stream")
        self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
        self.assertIn("leaves http://127.0.0.1", details)
        self.assertEqual(self.other.paths, [])


if __name__ == "__main__":
    unittest.main()
