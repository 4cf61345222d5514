#!/usr/bin/env python3
"""dxenv: a complete local dxgate deployment on loopback, for the demo and
the end-to-end tests: a dev PKI, synthetic data, two file adapters (Ministry
of Public Security, Ministry of Finance) and the gateway, each a real process
over mutual TLS, with configuration files written to one folder.

Standard library only; the gateway's registry is deploy/registry.yaml with
the adapter ports replaced by the ones started here.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKI_SCRIPT = os.path.join(REPO, "certs", "make-dev-pki.sh")

PROVIDERS = {
    # agency code: (adapter name, dataset id, data file, port in deploy/registry.yaml)
    "000.00.00.G01": ("population", "bca.population", "population.csv", 7001),
    "000.00.00.G12": ("business", "mof.business", "business.jsonl", 7012),
}


# gateway_settings["console"] for a console on a free loopback port.
CONSOLE_SETTINGS = "{listen_address: '127.0.0.1:0', port_file: console.port}"


class DevEnv:
    def __init__(self, root, build_dir, population=1000, business=1000,
                 gateway_settings=None, quiet=True, adapter_settings=""):
        self.root = os.path.abspath(root)
        self.build = os.path.abspath(build_dir)
        self.population = population
        self.business = business
        self.gateway_settings = gateway_settings or {}
        # YAML lines added to each adapter's config; {name} is its name.
        self.adapter_settings = adapter_settings
        # agency code: YAML items added to its file adapter's datasets list
        # (more datasets served from the same folder).
        self.extra_file_datasets = {}
        self.quiet = quiet
        self.procs = {}
        self.adapter_ports = {}
        self.gateway_port = None
        self.pki = os.path.join(self.root, "pki")
        self.data_dir = os.path.join(self.root, "gateway-data")
        # The gateway nodes the adapters admit.
        self.gateway_ids = ["gw1"]

    # ------------------------------------------------------------- set-up --
    def bin(self, name):
        subdir = {"dxgate": "gateway", "dxctl": "cli", "dx-file-adapter": "adapters",
                  "dx-sql-adapter": "adapters", "dx-rest-adapter": "adapters",
                  "dxbench": "bench"}[name]
        return os.path.join(self.build, subdir, name)

    def setup(self):
        os.makedirs(self.root, exist_ok=True)
        os.makedirs(os.path.join(self.root, "logs"), exist_ok=True)
        if not os.path.exists(os.path.join(self.pki, "root-ca.pem")):
            self.pki_cmd("init")
        data = os.path.join(self.root, "data")
        if not os.path.exists(os.path.join(data, "population.csv")):
            subprocess.run([sys.executable, os.path.join(REPO, "scripts", "gen-sample-data.py"),
                            "--out", data, "--population", str(self.population),
                            "--business", str(self.business)], check=True)
        return self

    def pki_cmd(self, *args, env=None):
        e = dict(os.environ)
        e.update(env or {})
        subprocess.run(["bash", PKI_SCRIPT, args[0], self.pki, *args[1:]], check=True,
                       env=e, stdout=subprocess.DEVNULL)

    def write(self, name, text):
        path = os.path.join(self.root, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    # ----------------------------------------------------------- processes --
    def _spawn(self, name, argv):
        with open(os.path.join(self.root, "logs", name + ".log"), "ab") as log:
            self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=log)

    def _wait_port(self, name, port_file, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    return int(text)
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: {self.log(name)}")
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not start within {timeout}s: {self.log(name)}")

    def log(self, name):
        path = os.path.join(self.root, "logs", name + ".log")
        if not os.path.exists(path):
            return ""
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-4000:]

    def start_adapter(self, agency):
        name, dataset, data_file, _ = PROVIDERS[agency]
        port_file = os.path.join(self.root, f"adapter-{name}.port")
        if os.path.exists(port_file):
            os.remove(port_file)
        config = self.write(f"adapter-{name}.yaml", f"""\
listen_address: 127.0.0.1:{self.adapter_ports.get(agency, 0)}
port_file: {port_file}
tls:
  cert_file: pki/adapters/{agency}/tls.pem
  key_file: pki/adapters/{agency}/tls.key
ca_file: pki/root-ca.pem
intermediates_file: pki/intermediate-ca.pem
crl_files: [pki/crl.pem]
crl_reload_seconds: 1
allowed_gateways: [{", ".join(self.gateway_ids)}]
datasets:
  - dataset_id: {dataset}
    path: data/{data_file}
""" + self.extra_file_datasets.get(agency, "") +
            self.adapter_settings.replace("{name}", name))
        self._spawn("adapter-" + name, [self.bin("dx-file-adapter"), "--config", config])
        self.adapter_ports[agency] = self._wait_port("adapter-" + name, port_file)
        return self.adapter_ports[agency]

    def start_custom_adapter(self, name, binary, agency, body):
        """Starts `binary` (dx-sql-adapter, dx-rest-adapter) as `name`,
        serving with `agency`'s adapter certificate; `body` is the rest of
        its YAML config (database:, upstream:, datasets:). Returns its port."""
        port_file = os.path.join(self.root, f"adapter-{name}.port")
        if os.path.exists(port_file):
            os.remove(port_file)
        config = self.write(f"adapter-{name}.yaml", f"""\
listen_address: 127.0.0.1:0
port_file: {port_file}
tls:
  cert_file: pki/adapters/{agency}/tls.pem
  key_file: pki/adapters/{agency}/tls.key
ca_file: pki/root-ca.pem
intermediates_file: pki/intermediate-ca.pem
crl_files: [pki/crl.pem]
allowed_gateways: [{", ".join(self.gateway_ids)}]
""" + body)
        self._spawn("adapter-" + name, [self.bin(binary), "--config", config])
        return self._wait_port("adapter-" + name, port_file)

    def stop_adapter(self, agency):
        self._stop("adapter-" + PROVIDERS[agency][0])

    def registry_text(self, extra_datasets=""):
        """deploy/registry.yaml plus `extra_datasets`; the providers' ports of
        deploy/registry.yaml (7001, 7012) become their adapters' ports,
        in the extra datasets too."""
        with open(os.path.join(REPO, "deploy", "registry.yaml"), encoding="utf-8") as f:
            text = f.read() + extra_datasets
        for agency, (_, _, _, port) in PROVIDERS.items():
            text = text.replace(f"127.0.0.1:{port}",
                                f"127.0.0.1:{self.adapter_ports.get(agency, port)}")
        return text

    def policy_text(self, extra_policies=""):
        """deploy/policy.yaml, plus dataset policies appended to its list."""
        with open(os.path.join(REPO, "deploy", "policy.yaml"), encoding="utf-8") as f:
            return f.read() + extra_policies

    def gateway_config(self, name, node_id, port, data_dir, certs, settings):
        """Writes NAME.yaml for a gateway node; returns (path, port file)."""
        port_file = os.path.join(self.root, f"{name}.port")
        if os.path.exists(port_file):
            os.remove(port_file)
        values = {
            "node_id": node_id,
            "listen_address": f"127.0.0.1:{port or 0}",
            "port_file": f"{name}.port",
            "data_dir": data_dir,
            "registry_file": "registry.yaml",
            "policy_file": "policy.yaml",
            "adapter_timeout_ms": 3000,
        }
        values.update(settings)
        lines = [f"{k}: {v}" for k, v in values.items()]
        lines.append(f"""\
tls: {{cert_file: {certs}/tls.pem, key_file: {certs}/tls.key}}
signing: {{cert_file: {certs}/sign.pem, key_file: {certs}/sign.key}}
trust:
  ca_file: pki/root-ca.pem
  intermediates_file: pki/intermediate-ca.pem
  crl_files: [pki/crl.pem]
  crl_reload_seconds: 1
""")
        return self.write(f"{name}.yaml", "\n".join(lines)), port_file

    def start_gateway(self, extra_datasets="", extra_policies=""):
        """Starts dxgate; the policy file seeds an empty policy store only."""
        self.write("registry.yaml", self.registry_text(extra_datasets))
        self.write("policy.yaml", self.policy_text(extra_policies))
        config, port_file = self.gateway_config("gateway", "gw1", self.gateway_port,
                                                "gateway-data", "pki/gateway",
                                                self.gateway_settings)
        self._spawn("gateway", [self.bin("dxgate"), "--config", config])
        self.gateway_port = self._wait_port("gateway", port_file)
        return self.gateway_port

    def start(self, extra_datasets="", extra_policies=""):
        for agency in PROVIDERS:
            self.start_adapter(agency)
        self.start_gateway(extra_datasets, extra_policies)
        return self

    def _stop(self, name, sig=signal.SIGTERM, timeout=20):
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def stop_gateway(self, sig=signal.SIGTERM):
        return self._stop("gateway", sig)

    def close(self):
        for name in list(self.procs):
            self._stop(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --------------------------------------------------------------- calls --
    @property
    def gateway(self):
        return f"127.0.0.1:{self.gateway_port}"

    def console_url(self, timeout=20):
        """The web console's address, once it listens (it starts after the
        gRPC port; the gateway runs with gateway_settings["console"] =
        CONSOLE_SETTINGS)."""
        port_file = os.path.join(self.root, "console.port")
        deadline = time.time() + timeout
        while not os.path.exists(port_file):
            if time.time() > deadline:
                raise RuntimeError(f"the console did not start: {self.log('gateway')}")
            time.sleep(0.05)
        with open(port_file, encoding="utf-8") as f:
            return f"https://127.0.0.1:{int(f.read())}"

    def dxctl(self, *args, timeout=120):
        return subprocess.run([self.bin("dxctl"), *args], capture_output=True,
                              text=True, timeout=timeout)

    def call(self, agency="000.00.00.H30", system="hotich", dataset="bca.population",
             purpose="civil-registration", *extra, pki_agency=None, gateway=None):
        """dxctl call as `agency`; pki_agency picks another certificate folder;
        gateway another address than the default node's."""
        args = ["call", "--gateway", gateway or self.gateway, "--pki", self.pki,
                "--agency", pki_agency or agency, "--system", system,
                "--dataset", dataset, "--purpose", purpose, *extra]
        if pki_agency:
            # The certificates of one folder, the envelope of another agency.
            args += ["--envelope-agency", agency]
        return self.dxctl(*args)

    def policy(self, *args, person="admin1", timeout=120):
        """dxctl policy COMMAND ... through the gateway, as `person`."""
        return self.dxctl("policy", *args, "--gateway", self.gateway, "--pki", self.pki,
                          "--person", person, timeout=timeout)

    def dxbench(self, *args, agency="000.00.00.H30", target=None,
                query="citizen_id=001000000000", timeout=600):
        """Runs dxbench against the gateway (or `target`, e.g. "a,b,c") as
        `agency` (civil-registration look-ups of one citizen unless args say
        otherwise; query=None asks for no key); its JSON result."""
        out = subprocess.run(
            [self.bin("dxbench"), "--target", target or self.gateway, "--mode", "gateway",
             "--pki", self.pki, "--agency", agency, *(["--query", query] if query else []),
             *args], capture_output=True, text=True, timeout=timeout)
        lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
        if not lines:
            raise RuntimeError(f"dxbench failed: {out.stdout}\n{out.stderr}")
        result = json.loads(lines[-1])
        # What it said of its errors (the first message of each code).
        result["notes"] = [x for x in out.stderr.splitlines() if " x " in x][-5:]
        return result

    def auditor(self, *args, person="auditor1", timeout=120):
        """dxctl audit COMMAND ... through the gateway, as `person`."""
        return self.dxctl("audit", *args, "--gateway", self.gateway, "--pki", self.pki,
                          "--person", person, timeout=timeout)

    def audit_records(self, data_dir=None):
        out = self.dxctl("audit", "list", "--data-dir", data_dir or self.data_dir, "--limit",
                         "1000000", "--json")
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_dataset_entry(dataset, fields, timeout_ms, port, provider, query_keys=None):
    """A registry entry (YAML list item) for a test dataset on an adapter
    at 127.0.0.1:port, to append with start_gateway(extra_datasets=...).
    `query_keys` is its YAML list of query keys; by default an equality key
    per field."""
    spec = ", ".join(f"{{name: {f}}}" for f in fields)
    if query_keys is None:
        query_keys = "[" + ", ".join(f"{{field: {f}}}" for f in fields) + "]"
    return f"""
  - id: {dataset}
    name: {dataset} (tests)
    provider_agency: {provider}
    category: shared
    restriction_legal_basis: none
    adapter: {{address: "127.0.0.1:{port}", tls_server_name: localhost, timeout_ms: {timeout_ms}}}
    fields: [{spec}]
    query_keys: {query_keys}
"""


def test_policy_entry(dataset, consumer):
    """A policy granting `consumer` every field of `dataset` for the purpose
    "testing" (start_gateway(extra_policies=...))."""
    return f"""
  - dataset: {dataset}
    grants:
      - {{id: {dataset.replace('.', '-')}, consumers: [{consumer}], purposes: [testing],
         legal_basis: tests}}
"""


def free_ports(n):
    """n distinct free TCP ports on loopback (all bound until chosen)."""
    import socket
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


# The population registry as a provider's PostgreSQL would hold it, for
# the demo, the SQL adapter's tests and its benchmark: the dataset's
# full_name is the column ho_ten; dx_reader may only read.
POPULATION_SCHEMA = """
CREATE ROLE dx_reader LOGIN PASSWORD '{password}';
CREATE SCHEMA registry;
GRANT USAGE ON SCHEMA registry TO dx_reader;
CREATE TABLE registry.citizens (
  citizen_id text PRIMARY KEY, ho_ten text NOT NULL, birth_date date,
  sex text, province_code text, province text, address text, ethnicity text);
"""
POPULATION_SQL_DATASET = """
  - dataset_id: bca.population
    table: registry.citizens
    fields:
      - {name: citizen_id}
      - {name: full_name, column: ho_ten}
      - {name: birth_date}
      - {name: sex}
      - {name: province_code}
      - {name: province}
      - {name: address}
      - {name: ethnicity}
    query_keys:
      - {field: citizen_id}
      - {field: full_name, prefix: true}
      - {field: birth_date, type: date, range: true}
      - {field: province_code}
      - {field: ethnicity}
"""


class PostgresServer:
    """A PostgreSQL 15 server of its own: a data dir under `root`, loopback
    on a free port, a socket dir beside it. initdb and postgres refuse to
    run as root, so as root they run as the `postgres` system user (the
    folders are handed to it). Every statement is logged, with the client's
    application name first, for tests that read what reached the server."""
    BIN = "/usr/lib/postgresql/15/bin"

    def __init__(self, root, port=None):
        self.root = os.path.abspath(root)
        self.data = os.path.join(self.root, "data")
        self.sockets = os.path.join(self.root, "run")
        self.logfile = os.path.join(self.root, "postgres.log")
        self.port = port or free_ports(1)[0]
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []

    def _run(self, *argv, input=None, check=True):
        return subprocess.run([*self.as_user, *argv], input=input, capture_output=True,
                              text=True, check=check, timeout=120)

    def init(self, superuser_password="dx-superuser"):
        os.makedirs(self.sockets, exist_ok=True)
        if self.as_user:
            # The postgres user must reach its folders through ours.
            path, opened = self.root, []
            while path not in ("/", ""):
                mode = os.stat(path).st_mode
                if mode & 0o001 == 0:
                    os.chmod(path, mode | 0o011)
                    opened.append(path)
                path = os.path.dirname(path)
            import tempfile
            outside = [p for p in opened if not p.startswith(tempfile.gettempdir())]
            if outside:
                print(f"note: gave others search permission (x) on {', '.join(outside)} so "
                      "the postgres user can reach its data dir", file=sys.stderr)
            subprocess.run(["chown", "-R", "postgres:postgres", self.root], check=True)
        pwfile = os.path.join(self.root, "superuser-password")
        with open(pwfile, "w") as f:
            f.write(superuser_password + "\n")
        if self.as_user:
            subprocess.run(["chown", "postgres", pwfile], check=True)
        # Unix-socket logins are trusted (tests, the demo); TCP needs a
        # password (SCRAM), as a provider's server would.
        self._run(f"{self.BIN}/initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8",
                  "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256",
                  f"--pwfile={pwfile}")
        return self

    def use_tls(self, cert_chain_file, key_file):
        """Serves TLS with this certificate chain and key (copied beside
        the data dir, the key readable only by the server)."""
        self.tls = (os.path.join(self.root, "server.pem"), os.path.join(self.root, "server.key"))
        os.makedirs(self.root, exist_ok=True)
        for src, dst in zip((cert_chain_file, key_file), self.tls):
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o600)
        return self

    def start(self):
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self.init()
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
                   "-c log_statement=all -c log_line_prefix='%a|' "
                   "-c fsync=off -c shared_buffers=64MB")
        if getattr(self, "tls", None):
            options += f" -c ssl=on -c ssl_cert_file={self.tls[0]} -c ssl_key_file={self.tls[1]}"
        self._run(f"{self.BIN}/pg_ctl", "-D", self.data, "-l", self.logfile, "-o", options,
                  "-w", "-t", "60", "start")
        return self

    def stop(self):
        self._run(f"{self.BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop",
                  check=False)

    def psql(self, sql, db="postgres"):
        """Runs SQL as the superuser over the socket; returns its rows' text."""
        r = self._run("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                      self.sockets, "-p", str(self.port), "-U", "postgres", "-d", db,
                      input=sql, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}")
        return r.stdout.strip()

    def create_population(self, password, csv_path=None, extra_sql=""):
        """Database `population` with POPULATION_SCHEMA, the rows of a
        gen-sample-data CSV when given, then `extra_sql`; dx_reader may read
        every table of schema registry."""
        self.psql("CREATE DATABASE population")
        self.psql(POPULATION_SCHEMA.format(password=password) + extra_sql, db="population")
        if csv_path:
            with open(csv_path, encoding="utf-8") as f:
                self.psql("COPY registry.citizens FROM STDIN WITH (FORMAT csv, HEADER true);\n"
                          + f.read() + "\\.\n", db="population")
        self.psql("GRANT SELECT ON ALL TABLES IN SCHEMA registry TO dx_reader", db="population")

    def log(self):
        with open(self.logfile, encoding="utf-8", errors="replace") as f:
            return f.read()

    def close(self):
        self.stop()


class EtcdCluster:
    """A real etcd cluster (Debian's /usr/bin/etcd) on loopback: members on
    free ports, data under ROOT/etcd, stopped whatever happens (close)."""

    def __init__(self, root, members=3, tls=None):
        """tls: {"ca": F, "cert": F, "key": F}: clients must present a
        certificate of that CA, and the members' own is `cert`."""
        self.root = os.path.join(root, "etcd")
        self.tls = tls
        os.makedirs(self.root, exist_ok=True)
        ports = free_ports(2 * members)
        self.members = [{"name": f"m{i + 1}", "client": ports[2 * i], "peer": ports[2 * i + 1],
                         "proc": None} for i in range(members)]

    @property
    def endpoints(self):
        return [f"127.0.0.1:{m['client']}" for m in self.members]

    def _spawn(self, m, state):
        peer_scheme = "https" if self.tls else "http"
        cluster = ",".join(f"{x['name']}={peer_scheme}://127.0.0.1:{x['peer']}"
                           for x in self.members)
        scheme = "https" if self.tls else "http"
        client, peer = f"{scheme}://127.0.0.1:{m['client']}", f"{scheme}://127.0.0.1:{m['peer']}"
        argv = ["/usr/bin/etcd", "--name", m["name"], "--data-dir",
                os.path.join(self.root, m["name"]), "--listen-client-urls", client,
                "--advertise-client-urls", client, "--listen-peer-urls", peer,
                "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster,
                "--initial-cluster-state", state, "--heartbeat-interval", "100",
                "--election-timeout", "1000", "--log-level", "error",
                "--auto-compaction-retention", "1"]
        if self.tls:
            argv += ["--cert-file", self.tls["cert"], "--key-file", self.tls["key"],
                     "--trusted-ca-file", self.tls["ca"], "--client-cert-auth",
                     "--peer-cert-file", self.tls["cert"], "--peer-key-file", self.tls["key"],
                     "--peer-trusted-ca-file", self.tls["ca"], "--peer-client-cert-auth"]
        with open(os.path.join(self.root, m["name"] + ".log"), "ab") as log:
            m["proc"] = subprocess.Popen(argv, stdout=log, stderr=log)

    def start(self):
        for m in self.members:
            self._spawn(m, "new")
        self.wait_healthy()
        return self

    def healthy(self, i):
        import urllib.request
        context, scheme = None, "http"
        if self.tls:
            import ssl
            context = ssl.create_default_context(cafile=self.tls["ca"])
            context.load_cert_chain(self.tls["cert"], self.tls["key"])
            scheme = "https"
        try:
            with urllib.request.urlopen(
                    f"{scheme}://127.0.0.1:{self.members[i]['client']}/health", timeout=1,
                    context=context) as r:
                return b'"health":"true"' in r.read()
        except OSError:
            return False

    def wait_healthy(self, timeout=30, members=None):
        deadline = time.time() + timeout
        for i in (members if members is not None else range(len(self.members))):
            while not self.healthy(i):
                if time.time() > deadline:
                    raise RuntimeError(f"etcd member {i} not healthy; logs in {self.root}")
                time.sleep(0.1)

    def kill(self, i):
        p = self.members[i]["proc"]
        if p and p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.kill()
            p.wait()

    def freeze(self, i):
        self.members[i]["proc"].send_signal(signal.SIGSTOP)

    def resume(self, i):
        self.members[i]["proc"].send_signal(signal.SIGCONT)

    def restart(self, i):
        self.kill(i)
        self._spawn(self.members[i], "existing")

    def leader(self):
        """The index of the member that leads (etcdctl endpoint status)."""
        out = subprocess.run(["etcdctl", "--endpoints", ",".join(self.endpoints),
                              "endpoint", "status", "-w", "json"], capture_output=True,
                             text=True, env=dict(os.environ, ETCDCTL_API="3"), timeout=10)
        for i, st in enumerate(json.loads(out.stdout or "[]")):
            if st["Status"]["leader"] == st["Status"]["header"]["member_id"]:
                return self.endpoints.index(st["Endpoint"])
        return None

    def close(self):
        for i in range(len(self.members)):
            self.kill(i)


class ClusterEnv(DevEnv):
    """DevEnv with several gateway nodes sharing their state in a real etcd
    cluster: gw1..gwN, each with its own certificates and data folder."""

    def __init__(self, root, build_dir, nodes=3, etcd_members=3, etcd_tls=False, **kw):
        """etcd_tls: etcd serves TLS and wants client certificates (each
        node presents its own; the members use an adapter's certificate)."""
        super().__init__(root, build_dir, **kw)
        self.node_ids = [f"gw{i + 1}" for i in range(nodes)]
        self.gateway_ids = list(self.node_ids)
        self.etcd = EtcdCluster(self.root, etcd_members)
        self.etcd_tls = etcd_tls
        self.ports = {}

    def setup(self):
        super().setup()
        if self.etcd_tls:
            # etcd's own CA, apart from the agencies' root (certs/README.md#etcd):
            # one member certificate for every member, a client one per node.
            self.pki_cmd("etcd-member", "members")
            member = os.path.join(self.pki, "etcd", "members", "members")
            self.etcd.tls = {"ca": os.path.join(self.pki, "etcd", "ca.pem"),
                             "cert": os.path.join(member, "tls.pem"),
                             "key": os.path.join(member, "tls.key")}
            for n in self.node_ids:
                self.pki_cmd("etcd-client", n)
        for n in self.node_ids[1:]:
            if not os.path.exists(os.path.join(self.pki, "gateways", n, "tls.pem")):
                self.pki_cmd("gateway", n)
        return self

    def certs_of(self, node):
        return "pki/gateway" if node == "gw1" else f"pki/gateways/{node}"

    def start_node(self, node, settings=None):
        endpoints = ", ".join(self.etcd.endpoints)
        tls = ""
        if self.etcd_tls:
            certs = f"pki/etcd/clients/{node}"
            tls = (f", etcd_ca_file: pki/etcd/ca.pem, etcd_cert_file: {certs}/tls.pem, "
                   f"etcd_key_file: {certs}/tls.key")
        values = {"cluster": f"{{etcd_endpoints: [{endpoints}], max_staleness_ms: 3000, "
                             "tree_head_publish_ms: 300, checkpoint_interval_ms: 300, "
                             f"etcd_timeout_ms: 800{tls}}}"}
        values.update(self.gateway_settings)
        values.update(settings or {})
        config, port_file = self.gateway_config(f"gateway-{node}", node, self.ports.get(node),
                                                f"data-{node}", self.certs_of(node), values)
        self._spawn(f"gateway-{node}", [self.bin("dxgate"), "--config", config])
        self.ports[node] = self._wait_port(f"gateway-{node}", port_file)
        return self.ports[node]

    def stop_node(self, node, sig=signal.SIGTERM):
        return self._stop(f"gateway-{node}", sig)

    def start(self):
        self.etcd.start()
        for agency in PROVIDERS:
            self.start_adapter(agency)
        self.write("registry.yaml", self.registry_text())
        self.write("policy.yaml", self.policy_text())
        for n in self.node_ids:
            self.start_node(n)
        return self

    def address(self, node):
        return f"127.0.0.1:{self.ports[node]}"

    @property
    def addresses(self):
        return [self.address(n) for n in self.node_ids]

    @property
    def gateway(self):  # dxctl's default target: the first node
        return self.address(self.node_ids[0])

    def status_of(self, node):
        """What `node` says of itself (dxctl status --json), or None."""
        out = self.dxctl("status", "--gateway", self.address(node), "--pki", self.pki,
                         "--person", "ops1", "--json", timeout=30)
        lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
        return json.loads(lines[0]) if lines else None

    def wait_busy(self, node, records, timeout=60):
        """Until `node` has written `records` more audit records (a load has
        reached it)."""
        start = int(self.status_of(node).get("audit_records", 0))
        deadline = time.time() + timeout
        while int((self.status_of(node) or {}).get("audit_records", 0)) < start + records:
            if time.time() > deadline:
                raise RuntimeError(f"{node} got no traffic")
            time.sleep(0.1)

    def node_data_dir(self, node):
        return os.path.join(self.root, f"data-{node}")

    def close(self):
        super().close()
        self.etcd.close()


def fresh_root(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path
