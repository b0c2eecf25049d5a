#!/usr/bin/env bash
# Prints the path of a busybox root filesystem tar made from the host's busybox-static (cached).
set -euo pipefail
out=${BUSYBOX_TAR:-/var/tmp/berth-busybox.tar}
if [ ! -s "$out" ]; then
  root=$(mktemp -d)
  mkdir -p "$root"/{bin,etc,tmp,root,proc,sys,dev}
  cp "$(command -v busybox)" "$root/bin/busybox"
  chroot "$root" /bin/busybox --install -s /bin
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  chmod 1777 "$root/tmp"
  tar -C "$root" --numeric-owner -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  rm -rf "$root"
fi
echo "$out"
