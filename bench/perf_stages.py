#!/usr/bin/env python3
"""Where a process's CPU goes, by stage of an exchange, from a perf profile.

Reads `perf script -F ip,sym,dso` output (samples with call chains, leaf
first; record with `perf record -g --call-graph dwarf`) and puts each
sample in one stage: the leaf-most frame that names a stage of dxgate's own
work (the request signature's verification, the answer's signature, the
replay guard, the policy, the audit log's RocksDB write, ...) decides;
a sample under none of them goes by the library of its leaf (TLS and
other libcrypto/libssl work, gRPC, protobuf, the allocator, the kernel).
Prints each stage's share of the samples and, given --us-per-call (the
process's CPU per call measured in the same run, e.g. by dxbench --cpu),
its microseconds per call.

    perf record -F 499 -g --call-graph dwarf,16384 -p PID -o perf.data -- sleep 6
    perf script -i perf.data -F ip,sym,dso > script.txt
    bench/perf_stages.py script.txt --us-per-call 248
"""
import argparse
import collections
import re
import sys

# (stage, pattern on a frame "symbol (dso)"), tried from the leaf up; the
# first frame that matches any of them names the sample's stage. The
# exchange runs as a chain of continuations (each step calls the next one
# when its answer comes, often on the same stack), so each step's entry
# point is a pattern too: without it a sample deep in the adapter call
# would be charged to the policy decision that called it. Where two
# patterns can match one frame, the first in this list wins.
STAGES = [
    ("request signature: ECDSA verify", r"dx::certs::Verifier::Verify"),
    ("answer signature: ECDSA sign", r"dx::certs::Signer::Sign"),
    ("answer: envelope, send (after the audit)",
     r"CloseAllowed\(.*lambda|UnaryCall::Close\(\)::(<lambda|\{lambda)|SignEnvelope|"
     r"UnaryCall::Finish|ResponseBase"),
    ("audit record: build and submit",
     r"UnaryCall::Close\b|CloseAllowed|CloseRefused|StampTotal|RecordOutcome"),
    ("audit log: RocksDB write and sync", r"rocksdb::"),
    ("audit log: Merkle tree, indexes, batching", r"dx::audit::"),
    ("adapter call: request out", r"UnaryCall::OnDecided|dx::gateway::AdapterPool::|AdapterRequestFor"),
    ("adapter answer: parse, filter, project",
     r"UnaryCall::OnAdapterDone|Admission::Filter|RecordFilter|TakeProjected"),
    ("sharing policy decision", r"dx::policy::|Admission::Decide"),
    ("replay guard", r"dx::replay::|Admission::CheckReplay|UnaryCall::OnReplayChecked"),
    ("quota", r"dx::quota::|SettleQuota"),
    ("certificate chain, CRL, other request checks",
     r"dx::gateway::RequestChecker|Admission::Authenticate|dx::certs::"),
    ("metrics", r"dx::metrics::|prometheus|ExchangeObserver|ExchangeMetrics"),
    ("logs", r"dx::LogEvent|dx::Log\b|ExchangeLog"),
]
LIBRARIES = [
    ("TLS and other OpenSSL work", r"\(.*lib(ssl|crypto)\.so"),
    ("protobuf parse and serialize", r"google::protobuf::|\(.*libprotobuf"),
    ("allocator", r"\(.*libjemalloc|\bje_|malloc|free\b|operator new|operator delete|cfree"),
    ("gRPC (HTTP/2, polling, calls)", r"\(.*lib(grpc|gpr|upb|address_sorting)"),
    ("kernel (network, syscalls, scheduler)", r"\[kernel|\[unknown\] \(\[|\(\[kernel"),
    ("dxgate, other", r"dx::|\(.*/(dxgate|dx-[a-z-]+)\)"),
    ("libc and other", r"."),
]


def samples(lines):
    """Yields each sample's frames, leaf first, as 'symbol (dso)'."""
    frames = []
    for line in lines:
        line = line.strip()
        if not line:
            if frames:
                yield frames
            frames = []
            continue
        parts = line.split(None, 1)
        frames.append(parts[1] if len(parts) > 1 else parts[0])
    if frames:
        yield frames


def stage_of(frames, stages, libraries):
    for frame in frames:
        for name, pattern in stages:
            if pattern.search(frame):
                return name
    for name, pattern in libraries:
        if pattern.search(frames[0]):
            return name
    return "libc and other"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("script", help="perf script -F ip,sym,dso output ('-': stdin)")
    ap.add_argument("--us-per-call", type=float, default=0,
                    help="the process's CPU per call in the same run")
    a = ap.parse_args()
    stages = [(n, re.compile(p)) for n, p in STAGES]
    libraries = [(n, re.compile(p)) for n, p in LIBRARIES]
    counts = collections.Counter()
    with (sys.stdin if a.script == "-" else open(a.script, errors="replace")) as f:
        for frames in samples(f):
            counts[stage_of(frames, stages, libraries)] += 1
    total = sum(counts.values())
    if not total:
        sys.exit("no samples")
    print(f"{'stage':<46} {'share':>7}" + (f" {'us/call':>8}" if a.us_per_call else ""))
    for name, n in counts.most_common():
        share = n / total
        us = f" {share * a.us_per_call:8.1f}" if a.us_per_call else ""
        print(f"{name:<46} {share:7.1%}{us}")
    print(f"{'(samples)':<46} {total:7d}")


if __name__ == "__main__":
    main()
