#!/usr/bin/env python3
"""How long this disk takes to make an append durable: the floor under every
durable dxgate answer (each waits for its audit record's fdatasync).

Appends BLOCK bytes and calls fdatasync, COUNT times, in a file under DIR
(the gateway's data_dir belongs on the same file system), as the audit
log's write-ahead log does; prints p50/p90/p99/p99.9/max in milliseconds.
With --background-mib, another thread meanwhile writes that many MiB per
second to a second file, as RocksDB's flushes and compactions do, to show
how much unrelated writes on the same file system stretch the syncs (ext4
commits them in the same journal transaction).

    /usr/bin/python3 bench/disk_sync.py --dir var --count 4000
    /usr/bin/python3 bench/disk_sync.py --dir var --count 4000 --background-mib 20
"""
import argparse
import os
import sys
import threading
import time


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, int(len(sorted_values) * p))
    return sorted_values[i]


def background_writer(path, mib_per_s, stop):
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        written = 0
        start = time.monotonic()
        while not stop.is_set():
            f.write(chunk)
            written += 1
            if written % 64 == 0:
                f.seek(0)  # keep the file at 64 MiB
            ahead = written / mib_per_s - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="var")
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--block", type=int, default=4096, help="bytes appended per sync")
    ap.add_argument("--background-mib", type=float, default=0,
                    help="MiB/s written to another file meanwhile")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    log_path = os.path.join(args.dir, "disk-sync-probe.log")
    other_path = os.path.join(args.dir, "disk-sync-probe.other")
    stop = threading.Event()
    writer = None
    if args.background_mib > 0:
        writer = threading.Thread(target=background_writer,
                                  args=(other_path, args.background_mib, stop), daemon=True)
        writer.start()
    block = os.urandom(args.block)
    latencies = []
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(args.count):
            os.write(fd, block)
            t0 = time.perf_counter()
            os.fdatasync(fd)
            latencies.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(fd)
        stop.set()
        if writer:
            writer.join()
        for p in (log_path, other_path):
            if os.path.exists(p):
                os.unlink(p)
    latencies.sort()
    print(f"fdatasync after a {args.block}-byte append, {args.count} times in {args.dir}"
          + (f", {args.background_mib:g} MiB/s written meanwhile to another file"
             if args.background_mib else "") + ":")
    print("  p50 {:.2f} ms  p90 {:.2f} ms  p99 {:.2f} ms  p99.9 {:.2f} ms  max {:.2f} ms".format(
        percentile(latencies, 0.5), percentile(latencies, 0.9), percentile(latencies, 0.99),
        percentile(latencies, 0.999), latencies[-1]))
    print(f"  syncs over 1 ms: {sum(1 for v in latencies if v > 1)}, "
          f"over 10 ms: {sum(1 for v in latencies if v > 10)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
