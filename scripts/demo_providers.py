#!/usr/bin/env python3
"""make demo-providers: dxgate in front of providers' real systems. Starts a
PostgreSQL server of its own under var/ (initdb, pg_ctl; as the postgres
user when run as root) holding the population registry, dx-sql-adapter in
front of it, a small local REST/JSON service of the tax authority with
dx-rest-adapter in front of it, and the gateway; then acts as a province's
system: look-ups by id, by name prefix and by date range, a stream, a
missing value, a refused query key, the statement the database really ran,
and the tax service's answer. Everything it starts is stopped at the end.
`make demo` keeps the file adapters, which need no server."""
import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.harness import POPULATION_SQL_DATASET, REPO, DevEnv, PostgresServer, fresh_root  # noqa: E402

BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")
G01, G12, H30 = "000.00.00.G01", "000.00.00.G12", "000.00.00.H30"

TAX_DATASET = f"""
  - id: mof.tax_status
    name: Taxpayer status (General Department of Taxation's service)
    provider_agency: {G12}
    category: shared
    restriction_legal_basis: Law on Tax Administration 2019 Art. 99
    adapter: {{address: "127.0.0.1:{{port}}", tls_server_name: localhost, timeout_ms: 3000}}
    fields:
      - {{name: tax_code, type: string}}
      - {{name: name, type: string}}
      - {{name: status, type: string}}
      - {{name: capital_vnd, type: decimal}}
    query_keys: [{{field: tax_code, required: true}}]
"""
TAX_POLICY = f"""
  - dataset: mof.tax_status
    grants:
      - id: h30-business-licensing
        consumers: [{H30}]
        purposes: [business-licensing]
        legal_basis: Decree 194/2025/ND-CP Art. 16
"""


def tax_service(business_file):
    """The tax authority's own service: GET /v1/taxpayers/{code}."""
    by_code = {}
    with open(business_file, encoding="utf-8") as f:
        for line in f:
            b = json.loads(line)
            by_code[b["enterprise_code"]] = {
                "mst": b["enterprise_code"], "ten_nnt": b["name"], "trang_thai": b["status"],
                "von_dieu_le": int(b["registered_capital_vnd"]), "ghi_chu_noi_bo": "internal"}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802 - http.server's name
            code = self.path.rsplit("/", 1)[-1]
            record = by_code.get(code)
            body = json.dumps({"data": record} if record else {"error": "not found"}).encode()
            self.send_response(200 if record else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def step(n, title, why):
    print(f"\n{BOLD}{n}. {title}{RESET}\n   {DIM}{why}{RESET}")


def show(cmd, result):
    print(f"   $ {cmd}")
    for line in (result.stdout + result.stderr).rstrip().splitlines():
        print("   " + line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--root", default=os.path.join(REPO, "var", "demo-providers"))
    args = ap.parse_args()
    root = fresh_root(args.root)
    print(f"{BOLD}dxgate in front of providers' real systems{RESET}")
    env = DevEnv(os.path.join(root, "env"), args.build_dir, population=10_000, business=1_000)
    env.setup()
    pg = PostgresServer(os.path.join(root, "postgres"))
    service = None
    try:
        pg.start()
        pg.create_population("demo-reader", os.path.join(env.root, "data", "population.csv"))
        # Some records have no known date of birth: NULL, not an empty string.
        pg.psql("UPDATE registry.citizens SET birth_date = NULL WHERE citizen_id LIKE '%7'",
                db="population")
        print(f"   PostgreSQL 15 on 127.0.0.1:{pg.port} (data in {pg.data}): "
              "10,000 citizens in registry.citizens")

        env.write("db-password", "demo-reader\n")
        env.adapter_ports[G01] = env.start_custom_adapter("sql", "dx-sql-adapter", G01, f"""\
database:
  conninfo: host=127.0.0.1 port={pg.port} dbname=population user=dx_reader
  password_file: db-password
  pool_size: 4
datasets:""" + POPULATION_SQL_DATASET)
        print(f"   dx-sql-adapter for bca.population on port {env.adapter_ports[G01]}")
        service = tax_service(os.path.join(env.root, "data", "business.jsonl"))
        service_url = f"http://127.0.0.1:{service.server_address[1]}"
        rest_port = env.start_custom_adapter("rest", "dx-rest-adapter", G12, f"""\
datasets:
  - dataset_id: mof.tax_status
    url: {service_url}/v1/taxpayers/{{tax_code}}
    query_keys: [{{key: tax_code, required: true}}]
    records_pointer: /data
    fields:
      - {{name: tax_code, pointer: /mst}}
      - {{name: name, pointer: /ten_nnt}}
      - {{name: status, pointer: /trang_thai}}
      - {{name: capital_vnd, pointer: /von_dieu_le}}
    timeout_ms: 2000
""")
        print(f"   the tax authority's REST service on {service_url}; "
              f"dx-rest-adapter for mof.tax_status on port {rest_port}")
        env.start_adapter(G12)
        env.start_gateway(extra_datasets=TAX_DATASET.replace("{port}", str(rest_port)),
                          extra_policies=TAX_POLICY)
        print(f"   dxgate node gw1 on port {env.gateway_port}")
        h30 = f"dxctl call --agency {H30} --system hotich --dataset bca.population " \
              "--purpose civil-registration"

        def call(*extra, dataset="bca.population", purpose="civil-registration"):
            return env.call(H30, "hotich", dataset, purpose, *extra)

        step(1, "A look-up by citizen id, answered from PostgreSQL",
             "the adapter runs one prepared SELECT; the id travels as a parameter")
        cid = pg.psql("SELECT citizen_id FROM registry.citizens WHERE birth_date IS NULL "
                      "ORDER BY citizen_id LIMIT 1", db="population")
        show(h30 + f" --query citizen_id={cid}", call("--query", f"citizen_id={cid}"))
        select = [line.split("|", 1)[1] for line in pg.log().splitlines()
                  if line.startswith("dx-sql-adapter|") and "execute" in line][-1:]
        print(f"   {DIM}what the database ran (its own statement log):{RESET}")
        for line in select:
            print("   " + line.strip())
        print(f"   {DIM}only the 6 columns the grant allows are selected; this citizen's date "
              f"of birth is unknown: (null), which is not an empty string{RESET}")

        step(2, "A name prefix and a date range",
             "query keys the provider chose to offer: full_name.prefix, birth_date.from/.to")
        show(h30 + " --query full_name.prefix='Nguyễn Văn' --max-records 5",
             call("--query", "full_name.prefix=Nguyễn Văn", "--max-records", "5"))
        show(h30 + " --query birth_date.from=1990-01-01 --query birth_date.to=1990-01-31",
             call("--query", "birth_date.from=1990-01-01", "--query", "birth_date.to=1990-01-31"))

        step(3, "Everything, streamed", "single-row mode: bounded memory whatever the size")
        show(h30 + " --stream --quiet", call("--stream", "--quiet"))

        step(4, "A query key the dataset does not offer",
             "refused by the gateway (the registry lists the keys): nothing is forwarded")
        show(h30 + " --query address=x", call("--query", "address=x"))

        step(5, "The tax authority's REST service through dx-rest-adapter",
             "the URL is the configured template; the service's internal note never leaves")
        show("dxctl call ... --dataset mof.tax_status --purpose business-licensing "
             "--query tax_code=0100000001",
             call("--query", "tax_code=0100000001", dataset="mof.tax_status",
                  purpose="business-licensing"))
        show("... --query tax_code=9999999999  (the service answers 404: no record)",
             call("--query", "tax_code=9999999999", dataset="mof.tax_status",
                  purpose="business-licensing"))
        print(f"\n{BOLD}Done.{RESET} Configs: {env.root}/adapter-sql.yaml, "
              f"{env.root}/adapter-rest.yaml; docs/ADAPTERS.md explains every setting.")
    finally:
        env.close()
        if service:
            service.shutdown()
        pg.close()
        print("   stopped the gateway, the adapters, the REST service and PostgreSQL")


if __name__ == "__main__":
    main()
