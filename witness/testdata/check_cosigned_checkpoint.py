#!/usr/bin/env python3
"""An independent checker of a cosigned checkpoint, from the C2SP specs alone.

Written from signed-note, tlog-checkpoint and tlog-cosignature, sharing no
code with witness/: the standard library parses and hashes, and the openssl
CLI verifies the log's ECDSA P-256 signature (type 0x02) and the witness's
Ed25519 cosignature (type 0x04).

usage: check_cosigned_checkpoint.py NOTE LOG_NAME LOG_PUBKEY_PEM
                                    WITNESS_NAME WITNESS_PUBKEY_BASE64
Exits 0 when both signatures are found by (name, key ID) and verify.
"""
import base64
import hashlib
import os
import struct
import subprocess
import sys
import tempfile


def openssl_ok(args):
    return subprocess.run(["openssl"] + args, capture_output=True).returncode == 0


def main():
    note_path, log_name, log_pem, wit_name, wit_pub_b64 = sys.argv[1:6]
    note = open(note_path, "rb").read().decode("utf-8")
    assert all(c == "\n" or ord(c) >= 0x20 for c in note), "control character"
    split = note.rindex("\n\n")
    text, sig_lines = note[: split + 1], note[split + 2 :]
    lines = text[:-1].split("\n")
    assert len(lines) >= 3, "a checkpoint has at least three lines"
    assert str(int(lines[1])) == lines[1], "tree size"
    assert len(base64.b64decode(lines[2], validate=True)) == 32, "root hash"

    sigs = {}
    for line in sig_lines[:-1].split("\n"):
        assert line.startswith("\u2014 "), line
        name, b64 = line[2:].split(" ")
        raw = base64.b64decode(b64, validate=True)
        sigs[(name, raw[:4])] = raw[4:]

    pem = open(log_pem).read()
    spki = base64.b64decode("".join(
        l for l in pem.splitlines() if l and not l.startswith("-----")))
    log_id = hashlib.sha256(spki).digest()[:4]
    wit_pub = base64.b64decode(wit_pub_b64)
    wit_id = hashlib.sha256(
        wit_name.encode() + b"\n" + b"\x04" + wit_pub).digest()[:4]

    with tempfile.TemporaryDirectory() as d:
        def put(name, data):
            path = os.path.join(d, name)
            open(path, "wb").write(data)
            return path

        log_sig = sigs.get((log_name, log_id))
        if log_sig is None:
            print("no signature by the log key")
            return 1
        if not openssl_ok(["dgst", "-sha256", "-verify", log_pem, "-signature",
                           put("log.sig", log_sig), put("text", text.encode())]):
            print("the log signature does not verify")
            return 1

        cosig = sigs.get((wit_name, wit_id))
        if cosig is None or len(cosig) != 72:
            print("no cosignature by the witness key")
            return 1
        (ts,) = struct.unpack(">Q", cosig[:8])
        msg = b"cosignature/v1\ntime %d\n" % ts + text.encode()
        # SubjectPublicKeyInfo of an Ed25519 key: a fixed 12-byte header.
        ed_spki = bytes.fromhex("302a300506032b6570032100") + wit_pub
        ed_pem = (b"-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(ed_spki) +
                  b"\n-----END PUBLIC KEY-----\n")
        if not openssl_ok(["pkeyutl", "-verify", "-pubin", "-inkey",
                           put("w.pem", ed_pem), "-rawin", "-in",
                           put("msg", msg), "-sigfile",
                           put("w.sig", cosig[8:])]):
            print("the cosignature does not verify")
            return 1
    print("checkpoint and cosignature verify (time %d)" % ts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
