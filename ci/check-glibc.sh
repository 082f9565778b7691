#!/usr/bin/env bash
# Fails when libcapwire.so needs a newer glibc than the floor we promise (CentOS 7 / RHEL 7 era, glibc 2.17):
# a symbol version that slips in (dladdr@GLIBC_2.34 once did) makes the library refuse to load on older hosts.
set -euo pipefail
library="${1:-bindings/target/classes/META-INF/native/linux64/libcapwire.so}"
floor="2.17"
highest=$(objdump -T "$library" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
echo "libcapwire.so needs glibc ${highest} at most (floor ${floor})"
if [ "$(printf '%s\n%s\n' "$floor" "$highest" | sort -V | tail -n 1)" != "$floor" ]; then
  echo "libcapwire.so needs glibc ${highest}, newer than the supported floor ${floor}:" >&2
  objdump -T "$library" | grep -E "GLIBC_${highest//./\\.}" >&2
  exit 1
fi
