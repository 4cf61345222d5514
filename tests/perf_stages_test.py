"""bench/perf_stages.py puts each perf sample in the right stage: the
leaf-most frame naming a step wins, so a sample deep in the adapter call
that the policy's continuation started is the adapter call's, not the
policy's; a sample under no step goes by its leaf's library."""
import os
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
import perf_stages  # noqa: E402

# Three samples in `perf script -F ip,sym,dso` form, leaf first.
SCRIPT = """
\t  4c7496 [unknown] (/usr/lib/x86_64-linux-gnu/libgrpc.so.29.0.0)
\t  1234 dx::gateway::AdapterPool::FetchRaw (/work/build/gateway/dxgate)
\t  1235 dx::gateway::internal::UnaryCall::OnDecided (/work/build/gateway/dxgate)
\t  1236 dx::policy::PolicyAuthorizer::Decide (/work/build/gateway/dxgate)
\t  1237 dx::gateway::internal::UnaryCall::Start (/work/build/gateway/dxgate)

\t  23f64f EC_POINT_mul (/usr/lib/x86_64-linux-gnu/libcrypto.so.3)
\t  1240 dx::certs::Verifier::Verify (/work/build/gateway/dxgate)
\t  1241 dx::gateway::RequestChecker::Check (/work/build/gateway/dxgate)

\t  ffffffff81000000 [unknown] ([kernel.kallsyms])
\t  4187d2 grpc_pollset_work (/usr/lib/x86_64-linux-gnu/libgrpc.so.29.0.0)

\t  5555 rocksdb::DBImpl::WriteImpl (/usr/lib/x86_64-linux-gnu/librocksdb.so.7.8)
\t  1250 dx::audit::RocksDbAuditLog::WriteBatch (/work/build/gateway/dxgate)
"""


class PerfStagesTest(unittest.TestCase):
    def stages(self):
        stages = [(n, perf_stages.re.compile(p)) for n, p in perf_stages.STAGES]
        libs = [(n, perf_stages.re.compile(p)) for n, p in perf_stages.LIBRARIES]
        return [perf_stages.stage_of(f, stages, libs)
                for f in perf_stages.samples(SCRIPT.splitlines())]

    def test_each_sample_goes_to_its_step(self):
        self.assertEqual(self.stages(), [
            "adapter call: request out",
            "request signature: ECDSA verify",
            "kernel (network, syscalls, scheduler)",
            "audit log: RocksDB write and sync",
        ])

    def test_the_table_multiplies_shares_by_the_cpu_per_call(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write(SCRIPT)
            f.flush()
            out = subprocess.run([sys.executable, os.path.join(REPO, "bench", "perf_stages.py"),
                                  f.name, "--us-per-call", "200"],
                                 capture_output=True, text=True, check=True).stdout
        # Four samples: each stage a quarter, 50 us of 200.
        self.assertRegex(out, r"request signature: ECDSA verify\s+25\.0%\s+50\.0")
        self.assertRegex(out, r"\(samples\)\s+4")


if __name__ == "__main__":
    unittest.main()
