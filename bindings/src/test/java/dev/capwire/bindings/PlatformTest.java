package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class PlatformTest {
    private static Platform on(String osName, String osArch, String libc) {
        return Platform.of(osName, osArch, () -> libc);
    }

    @Test
    void eachSupportedPlatformHasItsOwnDirectoryInTheJar() {
        assertEquals("META-INF/native/linux64/", on("Linux", "amd64", "glibc").resourceDirectory());
        assertEquals("META-INF/native/linux64/aarch64/", on("Linux", "aarch64", "glibc").resourceDirectory());
        assertEquals("META-INF/native/linux64-musl/amd64/", on("Linux", "amd64", "musl").resourceDirectory());
        assertEquals("META-INF/native/linux64-musl/aarch64/", on("Linux", "aarch64", "musl").resourceDirectory());
        assertEquals("META-INF/native/osx/x86_64/", on("Mac OS X", "x86_64", "unused").resourceDirectory());
        assertEquals("META-INF/native/osx/aarch64/", on("Mac OS X", "aarch64", "unused").resourceDirectory());
        assertEquals("META-INF/native/windows64/", on("Windows 11", "amd64", "unused").resourceDirectory());
    }

    @Test
    void theCLibraryCountsOnLinuxOnly() {
        assertTrue(on("Linux", "aarch64", "musl").isMusl());
        assertEquals("system", on("Mac OS X", "aarch64", "musl").libc());
        assertEquals("os=macos, arch=aarch64, libc=system", on("Mac OS X", "arm64", "musl").toString());
    }

    @Test
    void platformsWithoutABuildHaveNoDirectory() {
        assertNull(on("Linux", "riscv64", "glibc").resourceDirectory());
        assertNull(on("Windows 11", "aarch64", "unused").resourceDirectory());
        assertNull(on("FreeBSD", "amd64", "unused").resourceDirectory());
        assertEquals("os=freebsd, arch=x86_64, libc=system", on("FreeBSD", "amd64", "unused").toString());
    }

    @Test
    void thisHostsCLibraryIsTheOneItsDynamicLoaderSays() throws Exception {
        boolean muslLoader;
        try (var lib = Files.newDirectoryStream(Path.of("/lib"), "ld-musl-*")) {
            muslLoader = lib.iterator().hasNext();
        }
        assertEquals(muslLoader ? "musl" : "glibc", Platform.linuxLibc());
        // This build packed the host's library where the loader will look for it.
        String directory = Platform.current().resourceDirectory();
        assertTrue(directory != null
                && Native.class.getClassLoader().getResource(directory + System.mapLibraryName("capwire")) != null,
                "no library at " + directory + " for " + Platform.current());
    }
}
