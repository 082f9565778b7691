#!/usr/bin/env bash
# Checks the packed capwire-bindings jar: it carries every platform's library in the layout Platform.java
# reads, plus the GraalVM native-image metadata, and the library the loader picks from the jar itself (not
# from target/classes) passes SelfTest on this host.
set -euo pipefail
cd "$(dirname "$0")/.."
jar=$(ls bindings/target/capwire-bindings-*.jar | grep -v -- '-tests.jar' | head -n 1)
listing=$(jar tf "$jar")
for entry in \
  META-INF/native/linux64/libcapwire.so \
  META-INF/native/linux64/aarch64/libcapwire.so \
  META-INF/native/linux64-musl/amd64/libcapwire.so \
  META-INF/native/linux64-musl/aarch64/libcapwire.so \
  META-INF/native/osx/x86_64/libcapwire.dylib \
  META-INF/native/osx/aarch64/libcapwire.dylib \
  META-INF/native/windows64/capwire.dll \
  META-INF/native-image/dev.capwire/capwire-bindings/jni-config.json \
  META-INF/native-image/dev.capwire/capwire-bindings/resource-config.json; do
  grep -qx "$entry" <<<"$listing" || { echo "$jar lacks $entry" >&2; exit 1; }
done
echo "$jar carries all seven platform libraries and the native-image metadata"
classpath_file=$(mktemp)
trap 'rm -f "$classpath_file"' EXIT
mvn -B -q -ntp -pl bindings dependency:build-classpath -Dmdep.includeScope=runtime -Dmdep.outputFile="$classpath_file"
classpath=$(cat "$classpath_file")
java --add-opens java.base/jdk.internal.misc=ALL-UNNAMED -cp "$jar:$classpath" dev.capwire.bindings.SelfTest
# The zig-built glibc 2.17 library (ci/cross-build.sh) passes the same self-test when loaded instead.
if [ -f build/cross/lib/linux-x86_64-gnu/libcapwire.so ]; then
  echo "the same with the cross-built x86_64 glibc 2.17 library:"
  java --add-opens java.base/jdk.internal.misc=ALL-UNNAMED -Dlibrary.capwire.path=build/cross/lib/linux-x86_64-gnu \
    -cp "$jar:$classpath" dev.capwire.bindings.SelfTest
fi
