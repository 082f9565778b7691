#!/usr/bin/env bash
# Cross builds (CI runs this from ci/test.sh; it fails CI when it fails). With zig cc it builds libcapwire
# for the platforms this machine is not, and proves as much of each as can be proved here:
#   linux x86_64 glibc 2.17  built, glibc floor checked, C tests run natively (the jar ships the host build)
#   linux aarch64 glibc 2.17 built, glibc floor checked, C tests run under qemu-aarch64
#   linux x86_64 musl        built, C tests run natively (statically linked)
#   linux aarch64 musl       built, C tests run under qemu-aarch64 (statically linked)
#   macOS x86_64, aarch64    built and linked against zig's macOS libc headers, C tests linked, exports checked
#   windows x86_64           built, the portable C tests (poller over TCP, names, handle passing) run under Wine
# CAPWIRE_CROSS_ONLY=<name> (e.g. windows-x86_64) builds that one target alone, for iterating on it.
# The libraries land in build/cross/jar/META-INF/native/... in hawtjni's layout (musl beside it), which the
# capwire-bindings jar packs when it exists (bindings/pom.xml); the default `mvn verify` does not need it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$(date +%s)
zig=$(bash ci/install-cross-tools.sh | tail -n 1)
cache="${CAPWIRE_CACHE:-$HOME/.cache/capwire}"
out=build/cross
rm -rf "$out/jar" "$out/obj" "$out/lib" "$out/test"

# The JNI header with the constants capwire_jni.c checks against comes from javac -h (the compile phase).
headers=bindings/target/native-headers
if [ ! -f "$headers/dev_capwire_bindings_Native.h" ] \
    || [ bindings/src/main/java/dev/capwire/bindings/Native.java -nt "$headers/dev_capwire_bindings_Native.h" ]; then
  mvn -B -q -ntp -pl bindings -am compile
fi
java_home=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
python3 ci/check-native-exports.py --registered bindings/src/main/java/dev/capwire/bindings/Native.java \
  native/src/capwire_jni.c

cflags=(-std=c11 -O2 -fPIC -fvisibility=hidden -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
  -Inative/include)
jni_flags=(-I"$java_home/include" -Inative/cross -I"$headers")
library_sources=$(ls native/src/*.c | grep -v capwire_jni.c)
tests=$(ls native/test/test_*.c)

# name | zig target | directory in the jar ("-": not packed) | library file | how its C tests run
targets=(
  "linux-x86_64-gnu|x86_64-linux-gnu.2.17|-|libcapwire.so|native"
  "linux-aarch64-gnu|aarch64-linux-gnu.2.17|linux64/aarch64|libcapwire.so|qemu-glibc"
  "linux-x86_64-musl|x86_64-linux-musl|linux64-musl/amd64|libcapwire.so|native"
  "linux-aarch64-musl|aarch64-linux-musl|linux64-musl/aarch64|libcapwire.so|qemu"
  "macos-x86_64|x86_64-macos|osx/x86_64|libcapwire.dylib|link"
  "macos-aarch64|aarch64-macos|osx/aarch64|libcapwire.dylib|link"
  "windows-x86_64|x86_64-windows-gnu|windows64|capwire.dll|wine"
)

# The C tests that run on Windows (test_socket runs its TCP cases there; test_handles_win passes sockets, pipes
# and files over TCP, within one process and to a child process it starts); the rest need fork and SCM_RIGHTS.
windows_tests="native/test/test_poller.c native/test/test_socket.c native/test/test_names.c
  native/test/test_handles_win.c"

run_tests() { # name, mode, executables...
  local name=$1 mode=$2
  shift 2
  for exe in "$@"; do
    case "$mode" in
      native) timeout 120 "$exe" 2>"$exe.log" ;;
      qemu) CAPWIRE_TEST_EMULATOR=qemu timeout 300 qemu-aarch64 "$exe" 2>"$exe.log" ;;
      qemu-glibc) CAPWIRE_TEST_EMULATOR=qemu timeout 300 qemu-aarch64 -L /usr/aarch64-linux-gnu "$exe" 2>"$exe.log" ;;
      # No Mono or Gecko: a new prefix would otherwise offer to download them.
      wine) WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" WINEPREFIX="$cache/wineprefix" \
          timeout 300 /usr/lib/wine/wine64 "$exe" 2>"$exe.log" ;;
      link) continue ;;
    esac || { echo "FAILED: $name $(basename "$exe") ($mode):" >&2; cat "$exe.log" >&2; exit 1; }
    echo "  $name: $(basename "$exe") passed ($mode)"
  done
}

for entry in "${targets[@]}"; do
  IFS='|' read -r name target jar_dir library mode <<<"$entry"
  if [ -n "${CAPWIRE_CROSS_ONLY:-}" ] && [ "$name" != "$CAPWIRE_CROSS_ONLY" ]; then continue; fi
  step_started=$(date +%s)
  obj="$out/obj/$name"
  lib="$out/lib/$name"
  mkdir -p "$obj" "$lib" "$out/test/$name"
  extra=()
  case "$target" in
    # musl's CMSG_NXTHDR compares a signed with an unsigned length inside the macro itself.
    *musl*) extra=(-Wno-sign-compare) ;;
  esac
  objects=()
  for source in $library_sources; do
    "$zig" cc -target "$target" "${cflags[@]}" "${extra[@]}" -c "$source" -o "$obj/$(basename "$source" .c).o"
    objects+=("$obj/$(basename "$source" .c).o")
  done
  "$zig" cc -target "$target" "${cflags[@]}" "${jni_flags[@]}" -c native/src/capwire_jni.c -o "$obj/capwire_jni.o"
  case "$target" in
    *windows*) "$zig" cc -target "$target" -shared -o "$lib/$library" "$obj/capwire_jni.o" "${objects[@]}" -lws2_32 ;;
    *macos*) "$zig" cc -target "$target" -shared -o "$lib/$library" "$obj/capwire_jni.o" "${objects[@]}" ;;
    *) "$zig" cc -target "$target" -shared -Wl,-z,noexecstack -o "$lib/$library" "$obj/capwire_jni.o" "${objects[@]}" ;;
  esac
  rm -f "$lib"/*.lib "$lib"/*.pdb

  # The C tests, each linked against the library's objects (statically for musl, so qemu needs no sysroot).
  executables=()
  case "$target" in *windows*) selected=$windows_tests ;; *) selected=$tests ;; esac
  for test_source in $selected; do
    exe="$out/test/$name/$(basename "$test_source" .c)"
    link=()
    case "$target" in
      *windows*) exe="$exe.exe"; link=(-lws2_32) ;;
      *musl*) link=(-static) ;;
      *linux-gnu*) link=(-lpthread) ;;
    esac
    "$zig" cc -target "$target" "${cflags[@]}" "${extra[@]}" -Wno-unused-function -Inative/test "$test_source" \
      "${objects[@]}" "${link[@]}" -o "$exe"
    executables+=("$exe")
  done
  run_tests "$name" "$mode" "${executables[@]}"

  # What each kind of binary must show about itself.
  case "$target" in
    *macos*) python3 ci/check-native-exports.py "$lib/$library" "${target%%-*}" ;;
    *windows*)
      # The [Ordinal/Name Pointer] table lists the DLL's exports: JNI_OnLoad must be the only one.
      exports=$(objdump -p "$lib/$library" | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' | grep '^\s*\[ *[0-9]' || true)
      if [ "$(echo "$exports" | awk '{print $NF}')" != "JNI_OnLoad" ]; then
        echo "$library exports [$exports], expected JNI_OnLoad alone" >&2
        exit 1
      fi
      echo "  $name: capwire.dll exports JNI_OnLoad alone" ;;
    *linux-gnu*) bash ci/check-glibc.sh "$lib/$library" ;;
  esac
  if [ "$jar_dir" != "-" ]; then
    mkdir -p "$out/jar/META-INF/native/$jar_dir"
    cp "$lib/$library" "$out/jar/META-INF/native/$jar_dir/"
  fi
  echo "$name ($target): built in $(( $(date +%s) - step_started )) s"
done
echo "cross builds done in $(( $(date +%s) - started )) s; packed:"
(cd "$out/jar" && find META-INF -type f | sort | sed 's/^/  /')
