#!/usr/bin/env bash
# The whole test suite: set-up (as install.sh), lint, type-check, then every test file.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
bash scripts/install.sh --no-run
npx biome check src test bench
npx tsc -p tsconfig.json --noEmit
# Node 20's --test does not expand globs: list the files ourselves.
mapfile -t files < <(find test -name '*.test.ts' | sort)
node --import tsx --test --test-reporter=spec --test-concurrency=2 "${files[@]}"
