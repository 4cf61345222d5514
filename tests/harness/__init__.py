"""The test harness: a local dxgate deployment on loopback (the dev
environment, a cluster of nodes on etcd, PostgreSQL for the SQL adapter),
shared by the end-to-end tests, the benchmarks and the demos.

Import it from the repository root: `from tests.harness import DevEnv`
(scripts add the root to sys.path first).
"""
from tests.harness.dxenv import (  # noqa: F401
    CONSOLE_SETTINGS, PKI_SCRIPT, POPULATION_SCHEMA, POPULATION_SQL_DATASET,
    PROVIDERS, REPO, ClusterEnv, DevEnv, EtcdCluster, PostgresServer,
    free_ports, fresh_root, test_dataset_entry, test_policy_entry)
