#!/usr/bin/env python3
"""make up / make down: the local deployment the demo uses (dev PKI, two
provider adapters, one gateway node on embedded defaults), left running so
that an integrator can try calls (docs/INTEGRATION.md#trying-it).

    make up      starts it under var/up (keeps its PKI and data between runs)
    make down    stops it

The processes' ids are kept in var/up/pids; their logs in var/up/logs."""
import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.harness import DevEnv, REPO  # noqa: E402


def port_free(port):
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def alive_pid(pid):
    """Running (a zombie waiting for its parent to reap it is not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pids_file(root):
    return os.path.join(root, "pids")


def running(root):
    alive = []
    try:
        with open(pids_file(root), encoding="utf-8") as f:
            for line in f:
                name, pid = line.split()
                if alive_pid(int(pid)):
                    alive.append((name, int(pid)))
    except FileNotFoundError:
        pass
    return alive


def down(root):
    alive = running(root)
    for _, pid in alive:
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 20
    while running(root) and time.time() < deadline:
        time.sleep(0.2)
    for name, pid in running(root):
        os.kill(pid, signal.SIGKILL)
    if os.path.exists(pids_file(root)):
        os.remove(pids_file(root))
    print(f"stopped {len(alive)} process(es)" if alive else "nothing was running")


def up(root, build_dir, port):
    if running(root):
        print(f"already running ({', '.join(n for n, _ in running(root))}); make down first")
        return 1
    # The console beside the gateway's port; a free one when that is (tests).
    console_port = 8444 if port and port_free(8444) else 0
    env = DevEnv(root, build_dir, population=10_000, business=5_000, gateway_settings={
        "console": f"{{listen_address: '127.0.0.1:{console_port}', port_file: console.port}}"})
    env.gateway_port = port if port and port_free(port) else None
    env.setup()
    try:
        env.start()
    except Exception:
        env.close()
        raise
    with open(pids_file(root), "w", encoding="utf-8") as f:
        for name, proc in env.procs.items():
            f.write(f"{name} {proc.pid}\n")
    pki = os.path.relpath(env.pki, REPO)
    print(f"""dxgate is up: node gw1 on {env.gateway} (embedded defaults, no outside server)
  PKI        {pki}   (agencies 000.00.00.H30 and H29 consume; G01 and G12 provide)
  audit log  {os.path.relpath(env.data_dir, REPO)}
  logs       {os.path.relpath(os.path.join(root, 'logs'), REPO)}

Try it:
  build/cli/dxctl call --gateway {env.gateway} --pki {pki} --agency 000.00.00.H30 \\
    --system hotich --dataset bca.population --purpose civil-registration \\
    --query citizen_id=001000000000
  PYTHONPATH=build/python /usr/bin/python3 examples/python/dx_client.py \\
    --gateway {env.gateway} --pki {pki} --agency 000.00.00.H30 --system hotich \\
    --dataset bca.population --purpose civil-registration --query citizen_id=001000000000
  build/cli/dxctl status --gateway {env.gateway} --pki {pki} --person ops1
  build/cli/dxctl audit query --gateway {env.gateway} --pki {pki} --person auditor1 --limit 5

The web console: {env.console_url()} (docs/CONSOLE.md). Your browser must
trust {pki}/root-ca.pem (the dev root CA); then open the link that
  build/cli/dxctl console login --console {env.console_url()} --pki {pki} --person auditor1
prints (people: auditor1, ops1, admin1, admin2).

Stop it with: make down""")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["up", "down"])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--root", default=os.path.join(REPO, "var", "up"))
    ap.add_argument("--port", type=int, default=8443,
                    help="the gateway's port (0: any free one)")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    if a.command == "down":
        down(root)
        return 0
    return up(root, os.path.abspath(a.build_dir), a.port)


if __name__ == "__main__":
    sys.exit(main())
