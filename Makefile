# dxgate: the two commands of the README are `make demo` and `make test`.
# Each installs what is missing (Debian packages), configures, builds, runs.

SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
export CCACHE_DIR ?= $(HOME)/.cache/dxgate-ccache
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps configure build test test-asan test-tsan fuzz fuzz-ci demo demo-providers demo-cluster up down pki clean format bench bench-sql bench-sql-feed bench-subscription bench-federation demo-federation bench-profile bench-ab bench-cluster bench-cluster-audit bench-audit bench-console bench-policy soak crash-cycles cluster-crash-cycles prune-soak fuzz-long

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600

# The whole suite again, built with AddressSanitizer and UndefinedBehavior-
# Sanitizer (issue: hostile inputs); .ci/run runs it after `make test`.
# DX_TEST_TIME_SCALE: the e2e tests' adapter deadlines times 3, as ASan runs
# every process 2-3 times slower (tests/harness/dev_env.py).
ASAN_BUILD_DIR ?= build-asan
test-asan: deps
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DDX_SANITIZE=address,undefined
	cmake --build $(ASAN_BUILD_DIR)
	cd $(ASAN_BUILD_DIR) && \
	  DX_TEST_TIME_SCALE=3 \
	  ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure --timeout 900

# The unit tests built with clang, the thread-safety annotations checked at
# compile time (-Wthread-safety -Werror), and run under ThreadSanitizer
# against Debian's own Abseil rebuilt with TSan (scripts/build-absl-tsan.sh:
# its mutexes must be visible to TSan). .ci/run runs it.
TSAN_BUILD_DIR ?= build-tsan
# Outside the checkout, beside the ccache, so that a fresh clone on the same
# machine (CI's) reuses it; the script rebuilds it when Debian's Abseil
# version changes.
TSAN_ABSL_DIR ?= $(HOME)/.cache/dxgate-absl-tsan
test-tsan: deps
	@bash scripts/install-deps.sh tsan
	@bash scripts/build-absl-tsan.sh $(TSAN_ABSL_DIR)
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(TSAN_BUILD_DIR) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
	  -DDX_SANITIZE=thread -DDX_THREAD_SAFETY=ON
	cmake --build $(TSAN_BUILD_DIR) --target unit_tests
	cd $(TSAN_BUILD_DIR) && \
	  LD_LIBRARY_PATH=$(TSAN_ABSL_DIR)/lib \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest -L unit --output-on-failure --timeout 900

# libFuzzer targets (clang-14, ASan+UBSan) run for FUZZ_SECONDS each from
# the seeds in fuzz/corpus; new inputs go to var/fuzz/<target>.
# policy_document runs without libFuzzer's entropic schedule: with its
# 12,000 features that bookkeeping took a third of the time, and the run
# went 6 times slower (docs/RELIABILITY.md#the-long-run).
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZERS = signed_request yaml_config csv_jsonl audit_bundle adapter_batch policy_document rest_answer
fuzz:
	@bash scripts/install-deps.sh fuzz
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD_DIR) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
	  -DDX_SANITIZE=address,undefined -DDX_FUZZ=ON
	cmake --build $(FUZZ_BUILD_DIR) --target $(addprefix fuzz_,$(FUZZERS))
	@for f in $(FUZZERS); do \
	  mkdir -p var/fuzz/$$f; \
	  echo "== fuzz_$$f for $(FUZZ_SECONDS) s"; \
	  own=""; case $$f in policy_document) own=-entropic=0;; esac; \
	  $(FUZZ_ENV) DX_PKI_SCRIPT=$(CURDIR)/certs/make-dev-pki.sh ./$(FUZZ_BUILD_DIR)/fuzz/fuzz_$$f \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 $$own $(FUZZ_ARGS) \
	    -artifact_prefix=var/fuzz/$$f-artifact- \
	    var/fuzz/$$f fuzz/corpus/$$f 2>&1 | grep -E "stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb|cov: .*(DONE|Done)|==[0-9]+== ?ERROR|SUMMARY|Done" || true; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

demo: build
	@/usr/bin/python3 scripts/demo.py --build-dir $(BUILD_DIR)

# The demo's deployment (dev PKI, adapters, one gateway), left running for
# an integrator to try calls; make down stops it (docs/INTEGRATION.md).
up: build
	@/usr/bin/python3 scripts/up.py up --build-dir $(BUILD_DIR)

down:
	@/usr/bin/python3 scripts/up.py down

# Three etcd members and three gateway nodes on loopback (docs/CLUSTER.md).
# The providers' real systems: PostgreSQL (started under var/) behind
# dx-sql-adapter and a local REST service behind dx-rest-adapter.
demo-providers: build
	@/usr/bin/python3 scripts/demo_providers.py --build-dir $(BUILD_DIR)

demo-cluster: build
	@/usr/bin/python3 scripts/demo_cluster.py --build-dir $(BUILD_DIR)

# Three platforms (a province, the national hub, a ministry), each its own
# PKI, federated through one anchor (docs/FEDERATION.md).
demo-federation: build
	@/usr/bin/python3 scripts/demo_federation.py --build-dir $(BUILD_DIR)

# dxgate against its peers (docs/PERFORMANCE.md); BENCH_ARGS="--rounds 1 --duration 3" for a quick look.
bench: build
	@bash scripts/install-deps.sh bench
	@/usr/bin/python3 bench/run_bench.py --build-dir $(BUILD_DIR) $(BENCH_ARGS)
	@/usr/bin/python3 bench/sql_adapter_bench.py --build-dir $(BUILD_DIR) $(SQL_BENCH_ARGS)

# dx-sql-adapter's figures alone (docs/ADAPTERS.md).
bench-sql: build
	@/usr/bin/python3 bench/sql_adapter_bench.py --build-dir $(BUILD_DIR) $(SQL_BENCH_ARGS)

# The SQL change feed's figures (bench/sql_feed_bench.py): the triggers' cost
# on a bulk insert, stamp-and-read throughput, insert-to-delivery latency.
bench-sql-feed: build
	@DX_BUILD_DIR=$(abspath $(BUILD_DIR)) /usr/bin/python3 bench/sql_feed_bench.py $(SQL_FEED_BENCH_ARGS)

# Subscriptions end to end: commit-to-delivery at steady rates, a backlog's
# events/s beside pg_recvlogical, CPU per event (docs/SUBSCRIPTIONS.md).
bench-subscription: build
	@DX_BUILD_DIR=$(abspath $(BUILD_DIR)) /usr/bin/python3 bench/subscription_bench.py $(SUBSCRIPTION_BENCH_ARGS)

# Routing through peer platforms: one, two and three platforms in one run,
# latency and CPU per hop (docs/FEDERATION.md#figures).
bench-federation: build
	@DX_BUILD_DIR=$(abspath $(BUILD_DIR)) /usr/bin/python3 bench/federation_bench.py $(FEDERATION_BENCH_ARGS)

# Gateway builds or settings side by side in one run (bench/ab_gateway.py):
#   make bench-ab AB_ARGS="--variant before=/tmp/old/build --variant after=build"
AB_ARGS ?= --variant current=$(BUILD_DIR)
# Where the gateway's CPU per exchange goes, by stage (perf, issue 29).
bench-profile: build
	@bash scripts/install-deps.sh bench
	@/usr/bin/python3 bench/profile_gateway.py --build-dir $(BUILD_DIR) $(PROFILE_ARGS)

bench-ab: build
	@/usr/bin/python3 bench/ab_gateway.py --build-dir $(BUILD_DIR) $(AB_ARGS)

# What sharing the state in etcd costs: one node local, one node on a
# one-member etcd, three nodes on a three-member etcd (docs/CLUSTER.md);
# CLUSTER_BENCH_ARGS="--rounds 1 --duration 3" for a quick look.
bench-cluster: build
	@/usr/bin/python3 bench/cluster_bench.py --build-dir $(BUILD_DIR) $(CLUSTER_BENCH_ARGS)

# A cluster's one audit trail: a search over 3 nodes of 3 M records, and the
# checkpointer's cost (docs/AUDIT.md#a-cluster).
# A prune of PRUNE_SOAK_RECORDS (3 M) records with the gateway's RSS
# sampled, and with a kill -9 halfway (docs/AUDIT.md). Not in CI.
PRUNE_SOAK_RECORDS ?= 3000000
prune-soak: build
	@/usr/bin/python3 bench/prune_soak.py --build-dir $(BUILD_DIR) --records $(PRUNE_SOAK_RECORDS)
	@/usr/bin/python3 bench/prune_soak.py --build-dir $(BUILD_DIR) --records $(PRUNE_SOAK_RECORDS) --kill

bench-cluster-audit: build
	@/usr/bin/python3 bench/cluster_audit_bench.py --build-dir $(BUILD_DIR) $(CLUSTER_AUDIT_BENCH_ARGS)

# The audit log's figures (docs/AUDIT.md); AUDIT_BENCH_RECORDS=1000000 for a quick run.
AUDIT_BENCH_RECORDS ?= 10000000
bench-audit: build
	./$(BUILD_DIR)/bench/dx_audit_bench --records $(AUDIT_BENCH_RECORDS) --db $(CURDIR)/var/audit-bench

# The web console: audit search over 10 M records, page weight, first render
# in Chromium (docs/PERFORMANCE.md#the-web-console). About 5 minutes.
CONSOLE_BENCH_RECORDS ?= 10000000
bench-console: build
	/usr/bin/python3 bench/console_bench.py --build-dir $(BUILD_DIR) --records $(CONSOLE_BENCH_RECORDS)

# The policy decision with 10,000 datasets x 100 grants (docs/POLICY.md).
bench-policy: build
	./$(BUILD_DIR)/bench/dx_policy_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true

# 30 minutes at 70% of the saturation rate (docs/RELIABILITY.md);
# SOAK_MINUTES=2 for a quick look.
soak: build
	@/usr/bin/python3 bench/soak.py --build-dir $(BUILD_DIR)

# kill -9 of the gateway under load, CRASH_CYCLES times (CI runs 2 within
# make test); every acknowledged record must survive each (docs/RELIABILITY.md).
CRASH_CYCLES ?= 10
crash-cycles: build
	DX_BUILD_DIR=$(CURDIR)/$(BUILD_DIR) DX_CRASH_CYCLES=$(CRASH_CYCLES) /usr/bin/python3 -m unittest -v \
	  tests.e2e.audit_e2e_test.AuditFaultTest.test_kill_9_under_load_loses_no_acknowledged_record

# Each fuzzer to FUZZ_LONG_RUNS executions (10 M; hours on 2 cores: run it
# in the background, not in CI), corpus kept in var/fuzz; the figures go in
# docs/RELIABILITY.md. FUZZ_LONG_RUNS=1000000 for a shorter pass;
# FUZZERS=yaml_config for one target; two runs at once use both cores (two
# targets, or one target twice on its one corpus, as libFuzzer's -jobs).
# ASan keeps its redzones and quarantine but records no allocation stacks
# and does not fill new memory: 15-20% faster, and a finding's artifact is
# re-run with the defaults for the full report (docs/RELIABILITY.md).
FUZZ_LONG_RUNS ?= 10000000
FUZZ_LONG_ASAN ?= malloc_context_size=0:max_malloc_fill_size=0
fuzz-long:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=0 \
	  FUZZ_ENV="ASAN_OPTIONS=$(FUZZ_LONG_ASAN)" \
	  FUZZ_ARGS="-runs=$(FUZZ_LONG_RUNS) $(FUZZ_ARGS)"

# What CI runs: each fuzzer for 30 s from the seeds, with a fixed seed.
fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30 FUZZ_ARGS=-seed=1

# kill -9 of one gateway node of three under load, CLUSTER_CRASH_CYCLES
# times (CI runs 2 within make test; docs/CLUSTER.md).
CLUSTER_CRASH_CYCLES ?= 10
cluster-crash-cycles: build
	DX_BUILD_DIR=$(CURDIR)/$(BUILD_DIR) DX_CLUSTER_CRASH_CYCLES=$(CLUSTER_CRASH_CYCLES) /usr/bin/python3 -m unittest -v \
	  tests.e2e.cluster_e2e_test.ClusterEndToEndTest.test_50_kill_9_of_a_node_under_load_loses_no_acknowledged_exchange

# A development PKI in var/pki (see certs/README.md).
pki: deps
	bash certs/make-dev-pki.sh var/pki

format:
	find . -path ./build -prune -o \( -name '*.cc' -o -name '*.h' \) -print | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) var
