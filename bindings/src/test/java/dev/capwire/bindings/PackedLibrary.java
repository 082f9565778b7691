package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** The library the build packed into this module's classes, and classpaths for child JVMs with or without it. */
final class PackedLibrary {
    static final String NATIVE_RESOURCES = "META-INF/native";
    static final String LIBRARY_PATH = "library.capwire.path";

    private PackedLibrary() {
    }

    /** The packed library file itself. */
    static Path builtLibrary() {
        return classpathEntries().stream()
                .map(entry -> entry.resolve(NATIVE_RESOURCES).resolve("linux64").resolve("libcapwire.so"))
                .filter(Files::isRegularFile).findFirst()
                .orElseThrow(() -> new AssertionError("no built libcapwire.so on the classpath"));
    }

    /** This host's OS and architecture with musl as its C library. */
    static Platform muslPlatform() {
        return Platform.of(System.getProperty("os.name"), System.getProperty("os.arch"), () -> "musl");
    }

    /**
     * This JVM's classpath, with every directory that holds the packed library copied under {@code dir}
     * without it.
     */
    static String classpathWithoutNativeResources(Path dir) throws IOException {
        List<String> entries = new ArrayList<>();
        int copies = 0;
        for (Path entry : classpathEntries()) {
            Path nativeResources = entry.resolve(NATIVE_RESOURCES);
            if (!Files.isDirectory(nativeResources)) {
                entries.add(entry.toString());
                continue;
            }
            Path copy = dir.resolve("classes-" + copies++);
            try (Stream<Path> tree = Files.walk(entry)) {
                for (Path from : tree.filter(path -> !path.startsWith(nativeResources)).collect(Collectors.toList())) {
                    Files.copy(from, copy.resolve(entry.relativize(from).toString()));
                }
            }
            entries.add(copy.toString());
        }
        assertTrue(copies > 0, "no classpath directory holds " + NATIVE_RESOURCES + ": this test would prove nothing");
        return String.join(File.pathSeparator, entries);
    }

    /**
     * A classpath on which the only library is the host build packed as the musl build: this glibc host then
     * takes the musl path (with {@code -Dcapwire.libc=musl}), which proves its directory and its extraction,
     * not musl itself.
     */
    static String classpathWithMuslBuildOnly(Path dir) throws IOException {
        Path jarTree = Files.createDirectories(dir.resolve("musl-jar/" + muslPlatform().resourceDirectory()));
        Files.copy(builtLibrary(), jarTree.resolve("libcapwire.so"));
        return classpathWithoutNativeResources(dir) + File.pathSeparator + dir.resolve("musl-jar");
    }

    private static List<Path> classpathEntries() {
        return Stream.of(System.getProperty("java.class.path").split(File.pathSeparator))
                .map(Path::of).collect(Collectors.toList());
    }
}
