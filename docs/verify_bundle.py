#!/usr/bin/env python3
"""Checks a dxgate audit bundle offline, with Python's hashlib and the
openssl CLI only: no dxgate code, no protobuf library (the few fields it
reads are decoded by hand, below). Written from docs/AUDIT.md.

    python3 verify_bundle.py BUNDLE --ca root-ca.pem [--tsa-ca authority.pem]

BUNDLE is what `dxctl audit export` wrote: one node's AuditBundle, or a
cluster's ClusterAuditBundle. Exit 0 and VERIFIED, or 3 and what failed.
A node's bundle may carry RFC 3161 time-stamps of its tree heads (field 6):
each stamped head is checked like the bundle's own and tied to it by its
consistency path; with --tsa-ca the token is checked by `openssl ts
-verify`, otherwise the command that would check it is printed."""
import argparse
import hashlib
import os
import struct
import subprocess
import sys
import tempfile


# ---- protobuf wire format: just enough to read the fields below ----------
def fields(buf):
    """{field number: [values]}: ints for varints, bytes for the rest."""
    out, i = {}, 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def one(f, n, default=b""):
    return f.get(n, [default])[0]


# ---- RFC 6962 / RFC 9162 -------------------------------------------------
def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_path(index, size, leaf, path):
    """RFC 9162 2.1.3.2: the root `path` leads to from leaf `index`, or None."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def consistent(first, second, first_root, second_root, path):
    """RFC 9162 2.1.4.2: the tree of `first` leaves is a prefix of the tree
    of `second` leaves, by `path`."""
    if first == second:
        return not path and first_root == second_root
    if first == 0 or first > second:
        return False
    if first & (first - 1) == 0:
        path = [first_root] + list(path)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def tree_head_bytes(head, prefix=b""):
    """RFC 6962 TreeHeadSignature (v1, tree_hash); a cluster tree head signs
    it behind the prefix "dxgate cluster checkpoint log\\n"."""
    return prefix + struct.pack(">BBQQ", 0, 1, one(head, 3, 0), one(head, 1, 0)) + one(head, 2)


# ---- openssl -------------------------------------------------------------
class Openssl:
    def __init__(self, ca):
        self.ca, self.tmp = ca, tempfile.mkdtemp(prefix="verify-bundle-")

    def path(self, name, data):
        p = os.path.join(self.tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def pem(self, der):
        return subprocess.run(["openssl", "x509", "-inform", "DER"], input=der,
                              capture_output=True, check=True).stdout

    def check(self, cert_der, issuers_der, at_ms, signature, data):
        """The certificate chains to --ca at the head's time, and its key made
        `signature` (ECDSA P-256, SHA-256, DER) over `data`."""
        leaf = self.path("leaf.pem", self.pem(cert_der))
        chain = self.path("issuers.pem", b"".join(self.pem(d) for d in issuers_der))
        v = subprocess.run(["openssl", "verify", "-CAfile", self.ca, "-untrusted", chain,
                            "-attime", str(at_ms // 1000), leaf], capture_output=True, text=True)
        if v.returncode != 0:
            return f"certificate does not chain to {self.ca}: {v.stdout.strip()} {v.stderr.strip()}"
        pub = subprocess.run(["openssl", "x509", "-in", leaf, "-pubkey", "-noout"],
                             capture_output=True, check=True).stdout
        s = subprocess.run(["openssl", "dgst", "-sha256", "-verify", self.path("pub.pem", pub),
                            "-signature", self.path("sig.der", signature),
                            self.path("data.bin", data)], capture_output=True, text=True)
        return None if s.returncode == 0 else "signature does not verify"

    def timestamp(self, tsa_ca, signature, token):
        """The RFC 3161 token stamps SHA-256(signature), under `tsa_ca`."""
        v = subprocess.run(["openssl", "ts", "-verify", "-data", self.path("stamped.bin", signature),
                            "-in", self.path("token.der", token), "-token_in",
                            "-CAfile", tsa_ca], capture_output=True, text=True)
        return None if v.returncode == 0 else f"token does not verify: {v.stdout.strip()} " \
                                              f"{v.stderr.strip()}"


def check_timestamps(bundle, ssl, tsa_ca):
    """A node bundle's time-stamps (field 6); one line for each, or raises."""
    head = fields(one(bundle, 1))
    node, certs, lines = one(head, 6).decode(), bundle.get(3, []), []
    for raw in bundle.get(6, []):
        stamp = fields(raw)
        stamped = fields(one(stamp, 1))
        size = one(stamped, 1, 0)
        problem = ssl.check(one(stamped, 7), certs[1:], one(stamped, 3, 0), one(stamped, 4),
                            tree_head_bytes(stamped))
        if problem:
            raise ValueError(f"node {node}: the time-stamped tree head of {size}: its {problem}")
        if not consistent(size, one(head, 1, 0), one(stamped, 2), one(head, 2),
                          stamp.get(4, [])):
            raise ValueError(f"node {node}: the time-stamped tree head of {size} is not a "
                             "prefix of the bundle's")
        if tsa_ca:
            problem = ssl.timestamp(tsa_ca, one(stamped, 4), one(stamp, 2))
            if problem:
                raise ValueError(f"node {node}: the time-stamp of the tree head of {size}: "
                                 f"its {problem}")
            lines.append(f"VERIFIED  the tree head of {size} is time-stamped (openssl ts "
                         f"-verify against {tsa_ca})")
        else:
            lines.append(f"UNCHECKED the time-stamp of the tree head of {size}: give --tsa-ca, "
                         "or: openssl ts -verify -data SIG -in TOKEN -token_in -CAfile "
                         "AUTHORITY.pem (docs/AUDIT.md)")
    return lines


def check_node_bundle(bundle, ssl):
    """One node's AuditBundle; (records checked, its tree head) or raises."""
    head = fields(one(bundle, 1))
    node = one(head, 6).decode()
    certs = bundle.get(3, [])
    if not certs:
        raise ValueError(f"node {node}: the bundle holds no certificate")
    if one(head, 7) != certs[0]:
        raise ValueError(f"node {node}: its tree head was signed by another certificate")
    problem = ssl.check(certs[0], certs[1:], one(head, 3, 0), one(head, 4), tree_head_bytes(head))
    if problem:
        raise ValueError(f"node {node}: its tree head's {problem}")
    size, root = one(head, 1, 0), one(head, 2)
    for raw in bundle.get(2, []):
        entry = fields(raw)
        stored = fields(one(entry, 1))
        seq, data = one(stored, 1, 0), one(stored, 2)
        if leaf_hash(data) != one(stored, 4):
            raise ValueError(f"node {node}: record {seq}: its bytes do not match its leaf hash")
        if root_from_path(seq, size, leaf_hash(data), entry.get(2, [])) != root:
            raise ValueError(f"node {node}: record {seq}: its proof does not lead to the "
                             "signed root")
    return len(bundle.get(2, [])), head


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("--ca", required=True, help="the root certificate (PEM) to trust")
    ap.add_argument("--tsa-ca", help="the time-stamping authority's roots (PEM)")
    args = ap.parse_args()
    with open(args.bundle, "rb") as f:
        top = fields(f.read())
    ssl = Openssl(args.ca)
    try:
        if 16 not in top:  # one node's AuditBundle
            n, head = check_node_bundle(top, ssl)
            stamps = check_timestamps(top, ssl, args.tsa_ca)
            print(f"VERIFIED  {n} records of {one(head, 6).decode()} against its signed tree "
                  f"head of {one(head, 1, 0)}")
            for line in stamps:
                print(line)
            return 0
        total, cluster_head = 0, None
        for raw_bundle, raw_cp in zip(top[16], top.get(17, [])):
            bundle = fields(raw_bundle)
            n, head = check_node_bundle(bundle, ssl)
            total += n
            node = one(head, 6).decode()
            cp = fields(raw_cp)
            leaf_bytes = one(cp, 2)
            leaf = fields(leaf_bytes)
            held = fields(one(leaf, 2))
            if one(leaf, 1).decode() != node or any(
                    one(held, k, 0) != one(head, k, 0) for k in (1, 2, 3, 4)):
                raise ValueError(f"node {node}: its tree head is not the one its checkpoint holds")
            if one(leaf, 4) != hashlib.sha256(bundle[3][0]).digest():
                raise ValueError(f"node {node}: its certificate is not the one its checkpoint pins")
            if cluster_head is None:
                cluster_head = one(cp, 5)
            if one(cp, 5) != cluster_head:
                raise ValueError(f"node {node}: its checkpoint is proven against another "
                                 "cluster tree head")
            ch = fields(cluster_head)
            if root_from_path(one(cp, 1, 0), one(ch, 1, 0), leaf_hash(leaf_bytes),
                              cp.get(4, [])) != one(ch, 2):
                raise ValueError(f"node {node}: its checkpoint leaf {one(cp, 1, 0)} does not "
                                 "lead to the cluster tree head's root")
        if len(top[16]) != len(top.get(17, [])):
            raise ValueError("the bundle does not hold one checkpoint per node")
        ch = fields(cluster_head)
        problem = ssl.check(one(ch, 7), top.get(18, []), one(ch, 3, 0), one(ch, 4),
                            tree_head_bytes(ch, b"dxgate cluster checkpoint log\n"))
        if problem:
            raise ValueError(f"the cluster tree head's {problem}")
        print(f"VERIFIED  {total} records of {len(top[16])} node(s), each node's tree head "
              f"in the cluster tree head of {one(ch, 1, 0)} checkpoints, signed by "
              f"{one(ch, 6).decode()}")
        return 0
    except (ValueError, IndexError, KeyError) as e:
        print(f"FAILED  {e}")
        return 3


if __name__ == "__main__":
    sys.exit(main())
