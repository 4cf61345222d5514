"""The test harness: a local dxgate deployment on loopback, shared by the
end-to-end tests, the benchmarks and the demos. One module a purpose:
dev_env (the PKI, adapters and one gateway), cluster_env (gateway nodes on
etcd), etcd (a real etcd cluster), postgres (a PostgreSQL server of the
test's own), policies (policy documents several tests apply).

Import it from the repository root: `from tests.harness import DevEnv`
(scripts add the root to sys.path first).
"""
__all__ = [
    "CONSOLE_SETTINGS", "PKI_SCRIPT", "POPULATION_SCHEMA", "POPULATION_SQL_DATASET",
    "PROVIDERS", "REPO", "ClusterEnv", "DevEnv", "EtcdCluster", "PostgresServer",
    "free_ports", "fresh_root", "test_dataset_entry", "test_policy_entry",
]

from tests.harness.cluster_env import ClusterEnv
from tests.harness.dev_env import (
    CONSOLE_SETTINGS, PKI_SCRIPT, PROVIDERS, REPO, DevEnv, free_ports,
    fresh_root, test_dataset_entry, test_policy_entry)
from tests.harness.etcd import EtcdCluster
from tests.harness.postgres import (
    POPULATION_SCHEMA, POPULATION_SQL_DATASET, PostgresServer)
