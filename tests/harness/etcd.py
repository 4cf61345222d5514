"""A real etcd cluster on loopback for the cluster tests, benchmarks and
demo: members that can be killed, frozen and restarted."""
import json
import os
import signal
import subprocess
import time

from tests.harness.dev_env import free_ports


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
