#!/usr/bin/env bash
# Runs the kqueue poller (native/src/poller_kqueue.c) on Linux, through libkqueue's user-space emulation of
# kqueue over epoll: the only way this machine can run that back end at all (macOS builds are only linked).
# It builds the library's objects with CW_POLLER_KQUEUE (kqueue in place of epoll), links test_poller against
# libkqueue, and runs it with CAPWIRE_TEST_EMULATOR=libkqueue, under which the one case libkqueue cannot
# pass says so and skips (docs/platforms.md). With a JNI header present it also builds the JNI library that
# way and runs SelfTest's poller check from Java on it.
#
# libkqueue is not packaged by Debian 12 nor by any registry CI reaches, so CI does not run this script; it
# takes an installed libkqueue: LIBKQUEUE_PREFIX (with include/kqueue/sys/event.h and lib/libkqueue.a),
# default /usr/local. Build one from https://github.com/mheily/libkqueue with
#   cmake -S libkqueue -B build -DCMAKE_INSTALL_PREFIX=$PREFIX && cmake --build build && cmake --install build
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${LIBKQUEUE_PREFIX:-/usr/local}"
if [ ! -f "$prefix/include/kqueue/sys/event.h" ] || [ ! -f "$prefix/lib/libkqueue.a" ]; then
  echo "no libkqueue under $prefix (set LIBKQUEUE_PREFIX): the kqueue back end cannot run here" >&2
  exit 2
fi
out=build/kqueue-on-linux
rm -rf "$out"
mkdir -p "$out"
cflags=(-std=c11 -O1 -g -fPIC -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -DCW_POLLER_KQUEUE
  -Inative/include -I"$prefix/include/kqueue")
objects=()
for source in $(ls native/src/*.c | grep -v capwire_jni.c); do
  gcc "${cflags[@]}" -c "$source" -o "$out/$(basename "$source" .c).o"
  objects+=("$out/$(basename "$source" .c).o")
done
gcc "${cflags[@]}" -Wno-unused-function -Inative/test native/test/test_poller.c "${objects[@]}" \
  "$prefix/lib/libkqueue.a" -lpthread -o "$out/test_poller"
CAPWIRE_TEST_EMULATOR=libkqueue timeout 120 "$out/test_poller"
echo "test_poller passed on kqueue (libkqueue)"

headers=bindings/target/native-headers
if [ -f "$headers/dev_capwire_bindings_Native.h" ] && [ -d bindings/target/classes ]; then
  java_home=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
  gcc "${cflags[@]}" -I"$java_home/include" -I"$java_home/include/linux" -I"$headers" -c native/src/capwire_jni.c \
    -o "$out/capwire_jni.o"
  gcc -shared -o "$out/libcapwire.so" "$out/capwire_jni.o" "${objects[@]}" "$prefix/lib/libkqueue.a" -lpthread
  classpath=bindings/target/classes:$(find ~/.m2/repository -name 'hawtjni-runtime-*.jar' | head -n 1)
  classpath=$classpath:$(find ~/.m2/repository -name 'agrona-*.jar' | grep -v sources | head -n 1)
  report=$(java --add-opens java.base/jdk.internal.misc=ALL-UNNAMED -Dlibrary.capwire.path="$(pwd)/$out" \
    -cp "$classpath" dev.capwire.bindings.SelfTest 2>&1) || { echo "$report" >&2; exit 1; }
  echo "$report"
  echo "$report" | grep -q '^ok *poller: kqueue' || { echo "SelfTest did not use kqueue" >&2; exit 1; }
fi
