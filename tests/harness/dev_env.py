"""The dev environment: a complete local dxgate deployment on loopback, for
the demos and the end-to-end tests: a dev PKI, synthetic data, two file
adapters (Ministry of Public Security, Ministry of Finance) and the gateway,
each a real process over mutual TLS, with configuration files written to one
folder.

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

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKI_SCRIPT = os.path.join(REPO, "certs", "make-dev-pki.sh")

PROVIDERS = {
    # agency code: (adapter name, dataset id, data file, port in deploy/registry.yaml)
    "000.00.00.G01": ("population", "bca.population", "population.csv", 7001),
    "000.00.00.G12": ("business", "mof.business", "business.jsonl", 7012),
}


# Under a sanitizer every process runs 2-3 times slower, so the adapters'
# deadlines written into the registry (`timeout_ms: N`) and the gateway's
# default one are multiplied by DX_TEST_TIME_SCALE (make test-asan sets 3).
# What a test proves about a deadline (it fires, the statement stops on the
# server, the answer names it) does not depend on its length; the tests'
# slow parts (an 8 s statement, a 20 s lock) stay longer than the scaled
# deadline.
TIME_SCALE = max(1, int(os.environ.get("DX_TEST_TIME_SCALE", "1") or 1))


def scaled_ms(ms):
    return int(ms) * TIME_SCALE


def scale_registry_deadlines(text):
    return re.sub(r"(?<![A-Za-z_])timeout_ms: *(\d+)",
                  lambda m: f"timeout_ms: {scaled_ms(m.group(1))}", text)


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

    def log(self, name, tail=4000):
        path = os.path.join(self.root, "logs", name + ".log")
        if not os.path.exists(path):
            return ""
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-tail:]

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

    def start_custom_adapter(self, name, binary, agency, body, port=0):
        """Starts `binary` (dx-sql-adapter, dx-rest-adapter) as `name`,
        serving with `agency`'s adapter certificate; `body` is the rest of
        its YAML config (database:, upstream:, datasets:). Returns its port
        (`port` when not 0: a restart keeps the gateway's registry true)."""
        port_file = os.path.join(self.root, f"adapter-{name}.port")
        if os.path.exists(port_file):
            os.remove(port_file)
        config = self.write(f"adapter-{name}.yaml", f"""\
listen_address: 127.0.0.1:{port}
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
        return scale_registry_deadlines(text)

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
            "adapter_timeout_ms": scaled_ms(3000),
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
        if proc is None:
            return None
        if proc.poll() is not None:
            # It ended before anyone asked it to: a crash or a sanitizer's
            # abort shows here, not in the test that saw only a reset
            # connection. Its log lives in a temp dir that is about to go.
            self._report_if_failed(name, proc.returncode, died_alone=True)
            return proc.returncode
        proc.send_signal(sig)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        self._report_if_failed(name, code, died_alone=False)
        return code

    def _report_if_failed(self, name, code, died_alone):
        """Prints the tail of NAME's log to stderr when it died on its own
        with a nonzero status or a signal, or its log holds a sanitizer's
        report, so that CI's output says why."""
        text = self.log(name, tail=1 << 30)
        sanitizer = "Sanitizer" in text or "runtime error:" in text
        text = text[-12000:]
        if not sanitizer and not (died_alone and code not in (0, None)):
            return
        why = "a sanitizer report" if sanitizer else f"exit status {code}"
        print(f"\n== {name} ({why}); the end of its log:\n{text}\n== end of {name}'s log",
              file=sys.stderr)

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


def fresh_root(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path
