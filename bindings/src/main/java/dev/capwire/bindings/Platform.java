package dev.capwire.bindings;

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The platform this JVM runs on, as far as choosing a native library goes: operating system, CPU
 * architecture and, on Linux, the C library (a glibc build fails to load on musl, and on aarch64 musl such a
 * failure has been a crash inside {@code dlopen}, so the choice is made before anything is loaded).
 *
 * <p>The jar carries one library per platform in hawtjni-runtime's layout, with musl beside it:
 * <pre>
 * META-INF/native/linux64/libcapwire.so               Linux x86_64, glibc 2.17+
 * META-INF/native/linux64/aarch64/libcapwire.so       Linux aarch64, glibc 2.17+
 * META-INF/native/linux64-musl/amd64/libcapwire.so    Linux x86_64, musl (Alpine)
 * META-INF/native/linux64-musl/aarch64/libcapwire.so  Linux aarch64, musl
 * META-INF/native/osx/x86_64/libcapwire.dylib         macOS Intel
 * META-INF/native/osx/aarch64/libcapwire.dylib        macOS Apple silicon
 * META-INF/native/windows64/capwire.dll               Windows x86_64
 * </pre>
 *
 * @param os {@code linux}, {@code macos}, {@code windows}, or the lower-cased {@code os.name} of any other
 * @param arch {@code x86_64}, {@code aarch64}, or the {@code os.arch} of any other
 * @param libc {@code glibc} or {@code musl} on Linux, {@code system} elsewhere
 */
record Platform(String os, String arch, String libc) {
    static final String NATIVE_RESOURCES = "META-INF/native/";

    /** This JVM's platform, detected once. */
    static Platform current() {
        return Current.PLATFORM;
    }

    /** Overrides the detected C library on Linux ({@code glibc} or {@code musl}) where detection is wrong. */
    static final String LIBC_PROPERTY = "capwire.libc";

    private static final class Current {
        static final Platform PLATFORM = of(System.getProperty("os.name", ""), System.getProperty("os.arch", ""),
                Platform::configuredOrDetectedLibc);
    }

    private static String configuredOrDetectedLibc() {
        String configured = System.getProperty(LIBC_PROPERTY);
        if (configured == null) {
            return linuxLibc();
        }
        if (!configured.equals("glibc") && !configured.equals("musl")) {
            throw new IllegalArgumentException("-D" + LIBC_PROPERTY + "=" + configured + ": must be glibc or musl");
        }
        return configured;
    }

    static Platform of(String osName, String osArch, java.util.function.Supplier<String> linuxLibc) {
        String name = osName.toLowerCase(Locale.ROOT);
        String os = name.startsWith("linux") ? "linux"
                : name.startsWith("mac") || name.startsWith("darwin") ? "macos"
                : name.startsWith("windows") ? "windows"
                : name.replace(' ', '-');
        String arch = switch (osArch.toLowerCase(Locale.ROOT)) {
            case "amd64", "x86_64", "x86-64", "x64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> osArch.toLowerCase(Locale.ROOT);
        };
        return new Platform(os, arch, os.equals("linux") ? linuxLibc.get() : "system");
    }

    /**
     * The C library of this very process: the JVM is linked against it, so its loader shows in
     * /proc/self/maps ({@code ld-musl-<arch>.so.1} on musl). Without /proc, the musl loader's presence in /lib.
     *
     * <p>Read with java.io, not {@code Files.lines} or any other NIO file channel: this runs in every JVM that
     * loads Capwire, and the JDK's first {@code FileChannel} initializes {@code sun.nio.ch.FileDispatcherImpl},
     * which keeps one end of a Unix socketpair open for the rest of the JVM's life (its "pre-close" fd). Loading
     * the library must not leave an fd in the application's process that the application did not open.
     */
    static String linuxLibc() {
        try (BufferedReader maps = new BufferedReader(new InputStreamReader(new FileInputStream("/proc/self/maps"),
                StandardCharsets.UTF_8))) {
            for (String line = maps.readLine(); line != null; line = maps.readLine()) {
                if (line.contains("/ld-musl-") || line.contains("/libc.musl-")) {
                    return "musl";
                }
            }
            return "glibc";
        } catch (IOException | RuntimeException unreadable) {
            try (DirectoryStream<Path> lib = Files.newDirectoryStream(Path.of("/lib"), "ld-musl-*")) {
                return lib.iterator().hasNext() ? "musl" : "glibc";
            } catch (IOException | RuntimeException alsoUnreadable) {
                return "glibc";
            }
        }
    }

    /** How this platform's kernel vouches for a Unix-socket peer (what {@code peerCredentials} asks). */
    String credentialsMechanism() {
        return switch (os) {
            case "linux" -> "SO_PEERCRED";
            case "macos" -> "LOCAL_PEERCRED + LOCAL_PEERPID";
            case "windows" -> "SIO_AF_UNIX_GETPEERPID";
            default -> "getpeereid";
        };
    }

    /**
     * Whether a loaded library keeps working once its file is unlinked: the mapping holds the file on every
     * Unix, while Windows refuses to delete a loaded DLL.
     */
    boolean keepsLoadedLibraryWithoutItsFile() {
        return !os.equals("windows");
    }

    boolean isMusl() {
        return libc.equals("musl");
    }

    /**
     * Where this platform's library sits in the jar (with {@code fileName} from
     * {@link System#mapLibraryName}), or null when the jar has no build for this platform.
     */
    String resourceDirectory() {
        return switch (os + "-" + arch + (os.equals("linux") ? "-" + libc : "")) {
            case "linux-x86_64-glibc" -> NATIVE_RESOURCES + "linux64/";
            case "linux-aarch64-glibc" -> NATIVE_RESOURCES + "linux64/aarch64/";
            case "linux-x86_64-musl" -> NATIVE_RESOURCES + "linux64-musl/amd64/";
            case "linux-aarch64-musl" -> NATIVE_RESOURCES + "linux64-musl/aarch64/";
            case "macos-x86_64" -> NATIVE_RESOURCES + "osx/x86_64/";
            case "macos-aarch64" -> NATIVE_RESOURCES + "osx/aarch64/";
            case "windows-x86_64" -> NATIVE_RESOURCES + "windows64/";
            default -> null;
        };
    }

    @Override
    public String toString() {
        return "os=" + os + ", arch=" + arch + ", libc=" + libc;
    }
}
