#!/usr/bin/env bash
# Installs the build tools the Maven build drives (CMake, a C compiler with ASan/UBSan, make) when missing.
# Java and everything Java-side come through Maven.
set -euo pipefail
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v gcc >/dev/null || missing+=(gcc)
command -v make >/dev/null || missing+=(make)
command -v objdump >/dev/null || missing+=(binutils)
command -v mvn >/dev/null || missing+=(maven)
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
# The sanitizer runtimes gcc links against for the C tests.
ldconfig -p | grep -q 'libasan\.so' || missing+=(libasan8)
ldconfig -p | grep -q 'libubsan\.so' || missing+=(libubsan1)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
