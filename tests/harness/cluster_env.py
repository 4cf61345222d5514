"""The cluster environment: several gateway nodes sharing their state in a
real etcd cluster, beside the dev environment's adapters."""
import json
import os
import signal
import time

from tests.harness.dev_env import PROVIDERS, DevEnv
from tests.harness.etcd import EtcdCluster


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
