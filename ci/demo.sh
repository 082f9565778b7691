#!/usr/bin/env bash
# The demo command (README): installs missing build tools, builds the jars (quietly, tests skipped), then runs a
# main class from bench/target/benchmarks.jar with the JVM flags Capwire needs. Without arguments it runs the
# demo; otherwise the first argument names the main class and the rest are its arguments, e.g.
#   bash ci/demo.sh dev.capwire.bench.QuickRun
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
mvn -B -q -Dstyle.color=never -DskipTests package
main="${1:-dev.capwire.bench.Demo}"
if [ $# -gt 0 ]; then shift; fi
# Agrona reaches the JDK's internal Unsafe (the first flag); Java 24+ warns on JNI without the second.
exec java --add-opens java.base/jdk.internal.misc=ALL-UNNAMED --enable-native-access=ALL-UNNAMED \
  -cp bench/target/benchmarks.jar "$main" "$@"
