#!/bin/sh
# Runs a command (CMake, the native build, CTest) for Maven with its standard output held back, and shows that
# output only when the command fails: a passing native build adds no lines to Maven's output, and a failing
# one still prints everything it said (CTest's --output-on-failure included). Standard error is never held
# back, so compiler and CMake warnings show even when the command succeeds.
# (ctest --quiet is not enough: it drops the output of failing tests too.)
set -u
log=$(mktemp "${TMPDIR:-/tmp}/capwire-native.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT
"$@" >"$log"
status=$?
if [ "$status" -ne 0 ]; then
  cat "$log"
  echo "failed ($status): $*" >&2
fi
exit "$status"
