#!/usr/bin/env bash
# The test command (README): installs missing build tools, cross-builds the other platforms' libraries and runs
# their C tests (ci/cross-build.sh: qemu, Wine), builds the host's native library through Maven and CMake,
# runs the C tests (plain and under ASan + UBSan) and every Java test, packs the jars (every platform's library
# in capwire-bindings) and checks the packed jar.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
bash ci/cross-build.sh
mvn -B -ntp verify "$@"
bash ci/check-glibc.sh
bash ci/check-jar.sh
