#!/usr/bin/env bash
# Installs the Debian 12 packages dxgate needs, only those that are missing.
# Uses sudo when not root. Nothing else is downloaded.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ ccache pkg-config make lld-14 openssl
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev librocksdb-dev libssl-dev libgtest-dev libgmock-dev libyaml-cpp-dev nlohmann-json3-dev
  libbenchmark-dev libjemalloc-dev prometheus-cpp-dev libcpp-httplib-dev libboost1.81-dev prometheus
  golang-etcd-server-dev golang-github-gogo-protobuf-dev golang-github-grpc-ecosystem-grpc-gateway-dev
  etcd-server etcd-client haproxy libpq-dev postgresql postgresql-15 postgresql-client postgresql-client-15
  # postgresql-client: psql, pg_recvlogical (the tests and make bench-subscription)
  libcurl4-openssl-dev
  python3 python3-grpcio python3-protobuf python3-cryptography
  chromium chromium-driver python3-selenium
)

# `install-deps.sh bench` adds what `make bench` compares against.
if [ "${1:-}" = "bench" ]; then
  PACKAGES+=(nginx-light linux-perf)
fi
# `install-deps.sh fuzz`: clang with libFuzzer.
if [ "${1:-}" = "fuzz" ]; then
  PACKAGES+=(clang-14 libclang-rt-14-dev)
fi
# `install-deps.sh tsan`: clang with TSan, and what rebuilding Debian's
# Abseil from its source package takes (scripts/build-absl-tsan.sh).
if [ "${1:-}" = "tsan" ]; then
  PACKAGES+=(clang-14 libclang-rt-14-dev curl gpgv xz-utils patch debian-archive-keyring)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Packages with services (nginx) must not start them: we run our own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
