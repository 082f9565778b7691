#!/usr/bin/env bash
# The test command (README): installs missing build tools, builds the native library through Maven and CMake,
# runs the C tests (plain and under ASan + UBSan) and every Java test, and packs the jars.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
mvn -B -ntp verify "$@"
bash ci/check-glibc.sh
