#!/usr/bin/env bash
# The whole test suite: set-up (as install.sh), lint, type-check, then every test file.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
bash scripts/install.sh --no-run
# Test peers: a reference registry, image tools and the clients of the Engine API (never runtime
# dependencies). The docker CLI itself comes with the machine image (/usr/local/bin/docker).
PEERS=(docker-registry skopeo umoci iperf3 curl apache2-utils zstd podman python3-docker docker-compose openssl xz-utils bzip2)
missing=()
for p in "${PEERS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
# podman (a reference in some tests) asks for rlimits root cannot grant on these machines (no
# CAP_SYS_RESOURCE, hard nofile 20000); the same host fix as shared/tools/peers-setup.sh.
if [ ! -e /etc/containers/containers.conf ]; then
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n' > /etc/containers/containers.conf
fi
# The e2e tests share one store; start from an empty one, whatever an interrupted run left.
export BERTH_TEST_ROOT=${BERTH_TEST_ROOT:-/var/tmp/berth-test/root} BERTH_TEST_RUNROOT=${BERTH_TEST_RUNROOT:-/run/berth-test}
left=$(BERTH_ROOT=$BERTH_TEST_ROOT BERTH_RUNROOT=$BERTH_TEST_RUNROOT berth ps -aq 2>/dev/null || true)
[ -z "$left" ] || BERTH_ROOT=$BERTH_TEST_ROOT BERTH_RUNROOT=$BERTH_TEST_RUNROOT berth rm -f $left >/dev/null 2>&1 || true
npx biome check src test bench
npx tsc -p tsconfig.json --noEmit
# Node 20's --test does not expand globs: list the files ourselves.
mapfile -t files < <(find test -name '*.test.ts' | sort)
node --import tsx --test --test-reporter=spec --test-concurrency=2 "${files[@]}"
