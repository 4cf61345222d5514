"""Libraries by layer, checked on the built programs (docs/ARCHITECTURE.md).

cmake/layers.cmake refuses a configuration whose link graph lets the
exchange pipeline, the policy engine, the audit log's verifiers, a fuzzer
or the policy benchmark reach RocksDB; this checks what the linker really
did: `ldd` of each of those programs names no librocksdb, and (so that the
check is not blind) `ldd` of dxgate does.

Run by ctest (make test), or: DX_BUILD_DIR=build /usr/bin/python3 tests/layers_test.py
"""
import os
import subprocess
import unittest

BUILD = os.environ.get("DX_BUILD_DIR", "build")
FUZZERS = ["signed_request", "yaml_config", "csv_jsonl", "audit_bundle",
           "adapter_batch", "policy_document", "rest_answer"]
NO_ROCKSDB = ["bench/dx_policy_bench"] + ["fuzz/fuzz_" + f for f in FUZZERS]


def shared_libraries(relative):
    path = os.path.join(BUILD, relative)
    if not os.path.exists(path):
        raise unittest.SkipTest(f"{path} is not built")
    out = subprocess.run(["ldd", path], check=True, capture_output=True,
                         text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


class LayersTest(unittest.TestCase):

    def test_dxgate_links_rocksdb_so_the_check_can_see_it(self):
        libs = shared_libraries("gateway/dxgate")
        self.assertTrue(any(l.startswith("librocksdb") for l in libs), libs)

    def test_pipeline_fuzzers_and_policy_bench_link_no_rocksdb(self):
        for program in NO_ROCKSDB:
            with self.subTest(program=program):
                libs = shared_libraries(program)
                self.assertFalse(
                    [l for l in libs if l.startswith("librocksdb")],
                    f"{program} links RocksDB: a library it links reaches the "
                    "store; link the seam or core library instead")


if __name__ == "__main__":
    unittest.main(verbosity=2)
