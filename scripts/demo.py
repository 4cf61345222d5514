#!/usr/bin/env python3
"""make demo: a tour of dxgate on loopback. Starts the gateway (embedded
RocksDB, dev PKI) and two provider adapters, then acts as a provincial
agency: an allowed request, a refusal by a forbid rule citing its legal
basis, a masked and row-filtered answer, a policy administrator's what-if
(`dxctl policy explain`), a replay, a tampered signature, a streamed result,
openssl checking the signatures, an auditor's search of the audit log, an
inclusion proof of one answer, and a verification of the whole log. Everything it starts is stopped at the end."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.harness import CONSOLE_SETTINGS, DevEnv, REPO, fresh_root  # noqa: E402

BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def step(n, title, why):
    print(f"\n{BOLD}{n}. {title}{RESET}\n   {DIM}{why}{RESET}")


def show(cmd_summary, result):
    print(f"   $ {cmd_summary}")
    for line in (result.stdout + result.stderr).rstrip().splitlines():
        print("   " + line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--root", default=os.path.join(REPO, "var", "demo"))
    args = ap.parse_args()

    print(f"{BOLD}dxgate demo{RESET}: a consumer agency reads a provider's data through the gateway")
    env = DevEnv(fresh_root(args.root), args.build_dir, population=10_000, business=5_000,
                 gateway_settings={"console": CONSOLE_SETTINGS})
    env.setup()
    print(f"   dev PKI (national root, agency CA, 4 agencies, gateway, adapters): {env.pki}")
    print("   synthetic data: 10,000 citizens (Ministry of Public Security), "
          "5,000 businesses (Ministry of Finance)")
    try:
        env.start()
        print(f"   started dx-file-adapter for bca.population on port {env.adapter_ports['000.00.00.G01']}, "
              f"for mof.business on port {env.adapter_ports['000.00.00.G12']}")
        print(f"   started dxgate node gw1 on port {env.gateway_port}; audit log in {env.data_dir}")
        h30 = "dxctl call --agency 000.00.00.H30 --system hotich --dataset bca.population --purpose civil-registration"

        step(1, "Allowed: province H30's civil-status system looks up one citizen",
             "mutual TLS + signed envelope + freshness + replay check + sharing policy "
             "(deploy/policy.yaml); the answer is signed")
        saved = tempfile.mkdtemp(prefix="dx-demo-")
        first = env.call("000.00.00.H30", "hotich", "bca.population", "civil-registration",
                         "--query", "citizen_id=001000000000", "--save-dir", saved)
        show(h30 + " --query citizen_id=001000000000", first)

        step(2, "Refused: the same system asks for ethnicity (sensitive personal data)",
             "a forbid rule of the policy; Decree 194/2025 Art. 16: a refusal gives "
             "the reason and the legal basis")
        r = env.call("000.00.00.H30", "hotich", "bca.population", "civil-registration",
                     "--field", "full_name", "--field", "ethnicity")
        show(h30 + " --field full_name --field ethnicity", r)

        step(3, "Masked and filtered: H30 checks residence (another purpose, another grant)",
             "the grant shows only H30's own residents (row filter province_code == "
             "consumer.province_code) and masks the id number but its last 4 digits")
        r = env.call("000.00.00.H30", "hotich", "bca.population", "residence-verification",
                     "--field", "citizen_id", "--field", "full_name", "--field", "province",
                     "--max-records", "5")
        show("dxctl call --agency 000.00.00.H30 --system hotich --dataset bca.population "
             "--purpose residence-verification --field citizen_id --field full_name "
             "--field province --max-records 5", r)

        step(4, "What if? A policy administrator asks whether the Ministry of Finance may "
             "read citizens' names for tax administration",
             "dxctl policy explain: the decision, the rule that decides, its legal basis, "
             "and how it was reached; nothing is sent to any adapter")
        r = env.policy("explain", "--consumer", "000.00.00.G12", "--dataset", "bca.population",
                       "--purpose", "tax-administration", "--fields", "citizen_id,full_name")
        show("dxctl policy explain --person admin1 --consumer 000.00.00.G12 "
             "--dataset bca.population --purpose tax-administration "
             "--fields citizen_id,full_name", r)

        step(5, "Replay: the exact signed request of step 1 sent again",
             "request ids and nonces are remembered (across restarts too)")
        r = env.dxctl("call", "--gateway", env.gateway, "--pki", env.pki, "--agency",
                      "000.00.00.H30", "--resend", os.path.join(saved, "request.pb"))
        show("dxctl call --agency 000.00.00.H30 --resend request.pb", r)

        step(6, "Tampered: one byte of the signed envelope changed in transit",
             "the signature covers exactly the bytes received")
        r = env.call("000.00.00.H30", "hotich", "bca.population", "civil-registration",
                     "--tamper", "envelope")
        show(h30 + " --tamper envelope", r)

        step(7, "Streamed: province H29 reads the whole business registry",
             "record batches, then a signed final message covering a digest of every batch")
        r = env.call("000.00.00.H29", "motcua", "mof.business", "tax-administration",
                     "--stream", "--print-rows", "3")
        show("dxctl call --agency 000.00.00.H29 --system motcua --dataset mof.business "
             "--purpose tax-administration --stream", r)

        step(8, "Anyone can check the signatures with the openssl CLI",
             "ECDSA P-256 / SHA-256 over the exact envelope bytes, DER signatures")
        for side in ("request", "response"):
            cmd = ["openssl", "dgst", "-sha256", "-verify", f"{side}.pub.pem",
                   "-signature", f"{side}.sig.der", f"{side}.envelope.bin"]
            v = subprocess.run(cmd, cwd=saved, capture_output=True, text=True)
            show(" ".join(cmd), v)

        step(9, "An auditor searches the audit log: every attempt above, refusals included",
             "synced to disk before each answer left; the gateway's start is recorded too")
        r = env.auditor("query", "--since", "1h")
        show("dxctl audit query --person auditor1 --since 1h", r)

        step(10, "Province H30 proves that its answer of step 1 is in the log",
             "an RFC 9162 inclusion proof of the receipt's leaf, against a signed tree head")
        seq = re.search(r"audit record: #(\d+)", first.stdout).group(1)
        deadline = time.time() + 10
        while time.time() < deadline:  # tree heads are signed every second
            p = env.dxctl("audit", "proof", seq, "--gateway", env.gateway, "--pki", env.pki,
                          "--agency", "000.00.00.H30")
            if p.returncode == 0:
                break
            time.sleep(0.3)
        show(f"dxctl audit proof {seq} --agency 000.00.00.H30", p)

        step(11, "An auditor recomputes the whole tree from the records and checks every signed head",
             "a changed byte anywhere would be named here")
        r = env.auditor("verify")
        show("dxctl audit verify --person auditor1", r)

        step(12, "The web console: an auditor signs in with a signed challenge",
             "no password anywhere: dxctl signs the console's challenge with the person's key "
             "and prints a one-time link; `make up` leaves the console running to open it")
        console = env.console_url()
        r = env.dxctl("console", "login", "--console", console, "--pki", env.pki,
                      "--person", "auditor1")
        show(f"dxctl console login --console {console} --person auditor1", r)
    finally:
        env.close()
        print(f"\n   stopped the gateway and the adapters. Logs: {os.path.join(env.root, 'logs')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
