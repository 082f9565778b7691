#!/usr/bin/env python3
"""Checks what a cross-built libcapwire exports, without tools for foreign binaries on the build machine.

Usage: check-native-exports.py LIBRARY CPU   (CPU: x86_64 or aarch64; LIBRARY: a Mach-O dylib)
       check-native-exports.py --registered NATIVE_JAVA CAPWIRE_JNI_C

A Mach-O dylib must be a 64-bit dylib for CPU that exports JNI_OnLoad and none of Capwire's own functions:
every Java native is bound through RegisterNatives in JNI_OnLoad, so that is the one entry point the JVM
looks up, and hidden visibility keeps the cw_* functions in. (Zig 0.11 also exports its compiler-rt and
libc helpers from a macOS dylib, and its linker takes no export list; those are counted, not failed:
another image binds to libSystem's copies through the two-level namespace, not to these.) --registered checks that every `native` method declared in
Native.java has an entry in capwire_jni.c's RegisterNatives table and the reverse, so no platform's library
can load with a native missing.
"""
import re
import struct
import sys

MH_MAGIC_64 = 0xFEEDFACF
MH_DYLIB = 6
LC_SYMTAB = 0x2
CPU_TYPES = {"x86_64": 0x01000007, "aarch64": 0x0100000C}
N_STAB, N_PEXT, N_TYPE, N_EXT, N_SECT = 0xE0, 0x10, 0x0E, 0x01, 0x0E


def macho_exports(path, cpu):
    data = open(path, "rb").read()
    magic, cputype, _sub, filetype, ncmds, _size, _flags, _reserved = struct.unpack_from("<IiIIIIII", data, 0)
    if magic != MH_MAGIC_64:
        sys.exit(f"{path}: not a 64-bit little-endian Mach-O file (magic {magic:#x})")
    if cputype != CPU_TYPES[cpu]:
        sys.exit(f"{path}: CPU type {cputype:#x}, expected {cpu} ({CPU_TYPES[cpu]:#x})")
    if filetype != MH_DYLIB:
        sys.exit(f"{path}: file type {filetype}, expected a dylib ({MH_DYLIB})")
    offset, exported = 32, []
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<II", data, offset)
        if cmd == LC_SYMTAB:
            symoff, nsyms, stroff, _strsize = struct.unpack_from("<IIII", data, offset + 8)
            for i in range(nsyms):
                strx, ntype, _sect, _desc, _value = struct.unpack_from("<IBBHQ", data, symoff + 16 * i)
                if ntype & (N_STAB | N_PEXT) or not ntype & N_EXT or ntype & N_TYPE != N_SECT:
                    continue
                end = data.index(b"\0", stroff + strx)
                exported.append(data[stroff + strx:end].decode())
        offset += cmdsize
    return sorted(exported)


def registered(native_java, jni_c):
    declared = set(re.findall(r"\bnative\s+\w+\s+(\w+)\s*\(", open(native_java).read()))
    table = set(re.findall(r'\{"(\w+)",\s*"\([^"]*\)[^"]*",\s*\(void \*\)\w+\}', open(jni_c).read()))
    if declared != table:
        sys.exit(f"natives declared but not registered: {sorted(declared - table)}; "
                 f"registered but not declared: {sorted(table - declared)}")
    print(f"all {len(declared)} natives of Native.java are registered by JNI_OnLoad")


if __name__ == "__main__":
    if sys.argv[1] == "--registered":
        registered(sys.argv[2], sys.argv[3])
    else:
        symbols = macho_exports(sys.argv[1], sys.argv[2])
        if "_JNI_OnLoad" not in symbols:
            sys.exit(f"{sys.argv[1]}: does not export _JNI_OnLoad")
        own = [s for s in symbols if s.startswith(("_cw_", "_Java_", "_capwire"))]
        if own:
            sys.exit(f"{sys.argv[1]}: exports Capwire internals {own}: hidden visibility was lost")
        print(f"{sys.argv[1]}: {sys.argv[2]} dylib exporting _JNI_OnLoad, no Capwire internals "
              f"({len(symbols) - 1} compiler-rt/libc helper symbols from zig)")
