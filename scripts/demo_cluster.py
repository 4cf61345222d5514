#!/usr/bin/env python3
"""make demo-cluster: three gateway nodes that behave as one, on loopback.
Starts a three-member etcd cluster (Debian's etcd-server), two provider
adapters and three dxgate nodes sharing their state in etcd, then tours
what a cluster must keep: a request answered by one node refused as a
replay by another, a policy change made through one node enforced by
another, the registry changed while serving, a node killed under traffic
that clients ride out, an etcd member lost, quorum lost (every node refuses
and says why) and regained (every node resumes by itself), and one audit
trail over the nodes (a search, a proof to the cluster checkpoint log, a
bundle checked with no dxgate code). Everything it
starts is stopped at the end (docs/CLUSTER.md)."""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.harness import ClusterEnv, REPO, fresh_root  # noqa: E402
from tests.harness.policies import business_with_h29_statistics  # noqa: E402
from demo import BOLD, RESET, show, step  # noqa: E402

H29_STATISTICS = business_with_h29_statistics()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--root", default=os.path.join(REPO, "var", "demo-cluster"))
    args = ap.parse_args()

    print(f"{BOLD}dxgate cluster demo{RESET}: three gateway nodes, one gateway")
    env = ClusterEnv(fresh_root(args.root), args.build_dir, nodes=3, etcd_members=3,
                     population=10_000, business=5_000)
    env.setup()
    try:
        env.start()
        all_nodes = ",".join(env.addresses)
        print(f"   etcd members on {', '.join(env.etcd.endpoints)}")
        for n in env.node_ids:
            print(f"   dxgate node {n} on {env.address(n)}; audit log in {env.node_data_dir(n)}")
        status = lambda: env.dxctl("status", "--gateway", all_nodes, "--pki", env.pki,  # noqa
                                   "--person", "ops1")

        step(1, "The cluster's health: each node says whether it serves, and why not",
             "policy and registry revisions come from etcd; each node keeps its own audit log")
        show(f"dxctl status --gateway {all_nodes}", status())

        step(2, "Province H30 is answered by gw1; the same signed request sent to gw2 is a replay",
             "the replay check of (consumer, request_id) and (consumer, nonce) is one etcd "
             "transaction, cluster-wide")
        saved = tempfile.mkdtemp(prefix="dx-demo-cluster-")
        r = env.call("000.00.00.H30", "hotich", "bca.population", "civil-registration",
                     "--query", "citizen_id=001000000000", "--save-dir", saved,
                     gateway=env.address("gw1"))
        show("dxctl call --gateway gw1 --agency 000.00.00.H30 ... --save-dir DIR", r)
        r = env.dxctl("call", "--gateway", env.address("gw2"), "--pki", env.pki, "--agency",
                      "000.00.00.H30", "--resend", f"{saved}/request.pb")
        show("dxctl call --gateway gw2 --resend DIR/request.pb", r)

        step(3, "A policy change applied through gw2 is enforced by gw3",
             "policy revisions live in etcd; every node watches them and names the revision "
             "that decided in each answer and audit record")
        stats = lambda: env.call("000.00.00.H29", "motcua", "mof.business", "statistics",  # noqa
                                 "--max-records", "2", gateway=env.address("gw3"))
        show("dxctl call --gateway gw3 --agency 000.00.00.H29 --dataset mof.business "
             "--purpose statistics", stats())
        path = env.write("h29-statistics.yaml", H29_STATISTICS)
        r = env.dxctl("policy", "apply", "-f", path, "--gateway", env.address("gw2"), "--pki",
                      env.pki, "--person", "admin1")
        show("dxctl policy apply -f h29-statistics.yaml --gateway gw2 --person admin1", r)
        show("dxctl call --gateway gw3 ... (again)", stats())

        step(4, "The registry changes while the cluster serves",
             "validated, checked against the sharing policy, versioned in etcd, audited, "
             "in force on every node without a restart")
        with open(os.path.join(env.root, "registry.yaml"), encoding="utf-8") as f:
            text = f.read()
        new = text.replace(
            "      - {id: motcua, name: One-stop public service portal (một cửa)}\n\ndatasets:",
            "      - {id: motcua, name: One-stop public service portal (một cửa)}\n"
            "      - {id: thongke, name: Provincial statistics}\n\ndatasets:")
        path = env.write("registry-v2.yaml", new)
        r = env.dxctl("registry", "apply", "-f", path, "--comment", "H29 statistics system",
                      "--gateway", env.address("gw1"), "--pki", env.pki, "--person", "ops1")
        show("dxctl registry apply -f registry-v2.yaml --gateway gw1 --person ops1", r)
        r = env.dxctl("registry", "history", "--gateway", env.address("gw3"), "--pki",
                      env.pki, "--person", "auditor1")
        show("dxctl registry history --gateway gw3 --person auditor1", r)

        step(5, "gw2 is killed (kill -9) while clients call all three nodes",
             "dxbench spreads calls with gRPC round robin and health checks, and retries a call "
             "refused as UNAVAILABLE with a new request")
        receipts = os.path.join(env.root, "receipts.txt")
        result = {}
        t = threading.Thread(target=lambda: result.update(env.dxbench(
            "--duration", "8", "--warmup", "0", "--concurrency", "16", "--retries", "3",
            "--receipts", receipts, target=all_nodes)))
        t.start()
        env.wait_busy("gw2", 1000)
        env.stop_node("gw2", signal.SIGKILL)
        print("   killed gw2 (SIGKILL) after its first 1,000 exchanges of the run")
        t.join()
        print(f"   dxbench: {result.get('ok')} answered, {result.get('retried')} retried, "
              f"errors {result.get('errors')}")
        show(f"dxctl status --gateway {all_nodes}", status())
        r = env.dxctl("audit", "verify", "--data-dir", env.node_data_dir("gw2"))
        show("dxctl audit verify --data-dir data-gw2   (the dead node's log, offline)", r)
        env.start_node("gw2")
        print("   restarted gw2: it rejoins by itself")
        time.sleep(1)
        show(f"dxctl status --gateway {all_nodes}", status())

        step(6, "One etcd member of three is lost: the cluster serves on",
             "etcd keeps a quorum of two; each node's client moves to another member")
        env.etcd.kill(2)
        r = env.call("000.00.00.H30", "hotich", "bca.population", "civil-registration",
                     "--query", "citizen_id=001000000000", "--quiet",
                     gateway=env.address("gw3"))
        show("dxctl call --gateway gw3 ... --quiet", r)

        step(7, "Quorum lost: every node refuses, says why, and serves nothing unguarded",
             "without etcd no replay can be ruled out and no policy proven current")
        env.etcd.kill(1)
        time.sleep(4)
        r = env.call("000.00.00.H30", "hotich", "bca.population", "civil-registration",
                     "--query", "citizen_id=001000000000", gateway=env.address("gw1"))
        show("dxctl call --gateway gw1 ...", r)
        show(f"dxctl status --gateway {all_nodes}", status())

        step(8, "Quorum back: every node serves again by itself",
             "nothing to restart; each node confirms it is current with a quorum read")
        env.etcd.restart(1)
        env.etcd.restart(2)
        env.etcd.wait_healthy(timeout=60)
        deadline = time.time() + 30
        while time.time() < deadline:
            out = status()
            if out.returncode == 0:
                break
            time.sleep(0.5)
        show(f"dxctl status --gateway {all_nodes}", out)

        step(9, "One audit trail for the cluster: one search, one proof, one bundle",
             "each node's signed tree head is checkpointed by the elected node into a "
             "cluster log; the audit commands ask every node")
        r = env.call("000.00.00.H30", "hotich", "bca.population", "civil-registration",
                     "--query", "citizen_id=001000000000", gateway=env.address("gw3"))
        seq = re.search(r"audit record: #(\d+)", r.stdout).group(1)
        auditor = ["--gateway", env.address("gw1"), "--cluster", "--pki", env.pki,
                   "--person", "auditor1"]
        show("dxctl audit query --gateway gw1 --cluster --consumer 000.00.00.H30 --limit 6",
             env.dxctl("audit", "query", *auditor, "--consumer", "000.00.00.H30",
                       "--limit", "6"))
        deadline = time.time() + 30  # checkpointed within the interval
        while True:
            r = env.dxctl("audit", "proof", seq, "--node", "gw3", *auditor)
            if r.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        show(f"dxctl audit proof {seq} --node gw3 --gateway gw1 --cluster", r)
        show("dxctl audit verify --gateway gw1 --cluster",
             env.dxctl("audit", "verify", *auditor))
        bundle = os.path.join(env.root, "cluster-trail.pb")
        show("dxctl audit export --out cluster-trail.pb --since 1h --gateway gw1 --cluster",
             env.dxctl("audit", "export", "--out", bundle, "--since", "1h", *auditor))
        show("python3 docs/verify_bundle.py cluster-trail.pb --ca root-ca.pem   "
             "(hashlib and openssl only)",
             subprocess.run([sys.executable, os.path.join(REPO, "docs", "verify_bundle.py"),
                             bundle, "--ca", os.path.join(env.pki, "root-ca.pem")],
                            capture_output=True, text=True))
    finally:
        env.close()
        print(f"\n   stopped the gateways, the adapters and etcd. Logs: "
              f"{os.path.join(env.root, 'logs')}, {env.etcd.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
