#!/usr/bin/env bash
# The whole test suite: set-up (as install.sh), lint, type-check, then every test file.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
bash scripts/install.sh --no-run
# Test peers: a reference registry and image tools (never runtime dependencies).
PEERS=(docker-registry skopeo umoci iperf3 curl apache2-utils zstd)
missing=()
for p in "${PEERS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
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
