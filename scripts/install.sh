#!/usr/bin/env bash
# Sets Berth up on Debian 12, as root: installs missing apt and npm packages, builds, puts `berth`
# on PATH, makes a local `busybox` image from the host's busybox-static, and runs a first container.
# Pass --no-run to skip the first container (the test script does).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

APT_PACKAGES=(runc crun conmon busybox-static tini iptables python3 make g++ procps iproute2 netavark aardvark-dns)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "berth setup: installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a===20&&b>=19||a>20?0:1)'; then
  echo "berth setup: Node.js >= 20.19 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# Reinstall npm packages when the lock file changed since the last install.
stamp=node_modules/.berth-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "berth setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

npm run --silent build
ln -sf "$PWD/bin/berth" /usr/local/bin/berth

# A local busybox image: no registry is reachable on these machines.
if ! berth image inspect busybox >/dev/null 2>&1; then
  tar=$(bash scripts/busybox-rootfs.sh)
  berth import --change 'CMD ["sh"]' -m 'busybox-static from the host' "$tar" busybox >/dev/null
fi

if [ "${1:-}" != "--no-run" ]; then
  berth run --rm busybox echo "Berth is ready: this line comes from a container."
fi
