#!/usr/bin/env bash
# The test command (README): builds the native library through Maven and CMake, runs the C tests (plain and
# under ASan + UBSan) and every Java test, and packs the jars.
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -ntp verify "$@"
bash ci/check-glibc.sh
