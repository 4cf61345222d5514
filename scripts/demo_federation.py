#!/usr/bin/env python3
"""make demo-federation: three platforms on loopback, each with its own PKI,
registry and policy (docs/FEDERATION.md): Hanoi's provincial platform, the
national hub and the Ministry of Public Security's platform, trusting each
other through one anchor signed by the hub's operator. A Hanoi agency reads
the population registry through the hub; openssl checks the ministry's
answer and every hop receipt; the hub refuses a dataset its transit rules
exclude; the hub witnesses the ministry's log and catches it when its log
is rewritten (its data dir replaced). Everything it starts is stopped at
the end."""
import argparse
import base64
import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.harness import REPO, free_ports, fresh_root  # noqa: E402
from tests.harness.platforms import BCA, H30, HANOI, HUB, Platforms  # noqa: E402
from demo import BOLD, RESET, show, step  # noqa: E402

WITNESS = "hub.dxgate.example/witness"
BCA_LOG = "bca.dxgate.example/audit"


def openssl_check(directory, name, data, signature, cert_der):
    """Writes NAME.bin, NAME.sig, NAME.pub.pem and runs openssl dgst."""
    base = os.path.join(directory, name)
    for suffix, value in ((".bin", data), (".sig", signature), (".der", cert_der)):
        with open(base + suffix, "wb") as f:
            f.write(value)
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in", base + ".der", "-pubkey",
                    "-noout", "-out", base + ".pub.pem"], check=True)
    return subprocess.run(["openssl", "dgst", "-sha256", "-verify", base + ".pub.pem",
                           "-signature", base + ".sig", base + ".bin"],
                          capture_output=True, text=True)


def witness_vkey(key_file):
    """The hub witness's vkey (c2sp.org/tlog-cosignature) from its key."""
    raw = subprocess.run(["openssl", "pkey", "-in", key_file, "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout[-32:]
    key_id = hashlib.sha256(WITNESS.encode() + b"\n\x04" + raw).digest()[:4]
    key = base64.b64encode(b"\x04" + raw).decode()
    return f"{WITNESS}+{key_id.hex()}+{key}"


def evidence_origin(record):
    return record.get("witness_evidence", {}).get("origin")


def wait_for(what, probe, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--root", default=os.path.join(REPO, "var", "demo-federation"))
    args = ap.parse_args()
    root = fresh_root(args.root)
    os.makedirs(root, exist_ok=True)

    print(f"{BOLD}dxgate federation demo{RESET}: a province, the national hub, a ministry")
    # The hub witnesses the ministry's log (docs/FEDERATION.md#witnessed-logs).
    witness_key = os.path.join(root, "hub-witness.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", witness_key],
                   check=True, capture_output=True)
    (witness_port,) = free_ports(1)
    platforms = Platforms(root, args.build_dir, population=10_000, settings={
        HUB: {"witness": (f"{{listen_address: '127.0.0.1:{witness_port}', "
                          f"key_file: {witness_key}, name: '{WITNESS}', "
                          f"logs: [{{origin: '{BCA_LOG}', public_key_files: "
                          f"[{os.path.join(root, 'bca', 'pki', 'gateway', 'sign.pem')}]}}]}}")},
        BCA: {"witness": (f"{{log_origin: '{BCA_LOG}', submit_interval_seconds: 1, "
                          f"peers: [{{url: 'https://127.0.0.1:{witness_port}', "
                          f"vkey: '{witness_vkey(witness_key)}', "
                          f"ca_file: {os.path.join(root, 'hub', 'pki', 'root-ca.pem')}}}]}}")},
    })
    try:
        step(1, "Three platforms, three PKIs, one anchor",
             "Each platform has its own root; the hub's operator signs an anchor naming all "
             "three (roots, gateways, agencies, datasets), checked with openssl alone")
        platforms.start()
        anchors = platforms.anchors
        show("openssl dgst -sha256 -verify op.pub -signature anchor.yaml.sig anchor.yaml",
             subprocess.run(f"openssl x509 -in {anchors}/op.pem -pubkey -noout > "
                            f"{anchors}/op.pub && openssl dgst -sha256 -verify {anchors}/op.pub "
                            f"-signature {anchors}/anchor.yaml.sig {anchors}/anchor.yaml",
                            shell=True, capture_output=True, text=True))
        for env, pid in zip(platforms.envs, (HANOI, HUB, BCA)):
            print(f"   {pid:<13} gateway {env.gateway}")

        hn, hub, bca = platforms.envs
        step(2, "Hanoi's agency H30 reads the ministry's population registry",
             "Hanoi forwards H30's signed request unchanged to the hub, the hub to the ministry; "
             "each platform checks it, decides on H30's identity, and records it")
        bundle = os.path.join(root, "peer-cas.pem")
        with open(bundle, "w") as f:
            for env in (bca, hub):
                for name in ("root-ca.pem", "intermediate-ca.pem"):
                    with open(os.path.join(env.pki, name)) as part:
                        f.write(part.read())
        saved = os.path.join(root, "answer")
        call = hn.call(H30, "hotich", "bca.population", "civil-registration", "--field",
                       "citizen_id", "--field", "full_name", "--field", "birth_date",
                       "--max-records", "5", "--print-rows", "5", "--peer-ca", bundle,
                       "--save-dir", saved)
        show("dxctl call --gateway <hanoi> --agency 000.00.00.H30 --dataset bca.population "
             "--peer-ca peer-cas.pem ...", call)
        if call.returncode != 0 or call.stdout.count("hop receipt OK") != 2:
            raise RuntimeError("the call through the hub was not served and checked")

        step(3, "Anyone checks the answer and every hop receipt with openssl",
             "The ministry signed the answer; the hub and Hanoi each signed a receipt for "
             "their own audit record of it, beside the signed bytes")
        sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
        sys.path.insert(0, os.path.join(args.build_dir, "python"))
        from consumer import Consumer  # noqa: E402
        from dx.v1 import exchange_pb2  # noqa: E402
        consumer = Consumer(hn)
        answer = consumer.stub.Call(consumer.signed(fields=["citizen_id", "full_name"],
                                                    max_records=3), timeout=20)
        out = openssl_check(root, "answer", answer.envelope, answer.signature,
                            answer.signer_certificate)
        print(f"   the ministry's answer: {out.stdout.strip()}")
        checks = [out.stdout.strip()]
        for i, hop in enumerate(answer.hop_receipts):
            body = exchange_pb2.HopReceiptBody.FromString(hop.body)
            out = openssl_check(root, f"hop{i}", hop.body, hop.signature,
                                hop.signer_certificate)
            print(f"   receipt of {body.platform_id} (its record #{body.sequence_number}, "
                  f"routed to {body.routed_to_platform}): {out.stdout.strip()}")
            checks.append(out.stdout.strip())
        if checks != ["Verified OK"] * 3:
            raise RuntimeError(f"openssl did not verify the answer and both receipts: {checks}")
        consumer.close()

        step(4, "The hub's transit rules exclude the business registry",
             "The hub's policy grants no one mof.business: it refuses, and says it refused")
        refused = hn.call(H30, "hotich", "mof.business", "business-licensing")
        show("dxctl call --gateway <hanoi> --dataset mof.business ...", refused)
        if refused.returncode == 0 or HUB not in refused.stdout:
            raise RuntimeError("the hub did not refuse mof.business")

        step(5, "The hub witnesses the ministry's log",
             "The ministry posts its checkpoints to the hub's witness (c2sp.org/tlog-witness); "
             "the hub cosigns each only if it extends the last one it cosigned")
        cosigned = wait_for("the hub's cosignature", lambda: [
            line for line in bca.log("gateway", 1 << 20).splitlines()
            if "cosigned size" in line])
        print("   " + cosigned[-1].strip()[:160])

        step(6, "The ministry rewrites its log (its data dir replaced)",
             "A platform that showed one history cannot show another to its witness")
        bca.stop_gateway()
        os.rename(bca.data_dir, bca.data_dir + ".old")
        bca.start_gateway()
        for _ in range(40):  # the new log grows past the size the hub cosigned
            bca.call(H30, "hotich", "bca.population", "civil-registration", "--query",
                     "citizen_id=001000000000", "--quiet")
        records = wait_for("the hub's refusal", lambda: [
            r for r in hub.audit_records()
            if r.get("kind") == "RECORD_KIND_WITNESS_REFUSAL"], timeout=90)
        r = records[0]
        if evidence_origin(r) != BCA_LOG:
            raise RuntimeError(f"the refusal is not the ministry's log's: {r}")
        print(f"   the hub refused the ministry's new checkpoint: HTTP {r.get('status_code')}, "
              f"{r.get('message', '')[:120]}")
        evidence = r.get("witness_evidence", {})
        print(f"   recorded as evidence in the hub's audit log ({evidence.get('origin')}): "
              f"cosigned size {evidence.get('cosigned_size')}, submitted size "
              f"{evidence.get('submitted_size')} from old size "
              f"{evidence.get('submitted_old_size', 0)}; both notes signed by the ministry")
        print(f"\n{BOLD}Done.{RESET} Stopping the three platforms.")
    finally:
        platforms.close()


if __name__ == "__main__":
    main()
