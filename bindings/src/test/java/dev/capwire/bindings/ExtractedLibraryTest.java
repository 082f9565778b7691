package dev.capwire.bindings;

import static dev.capwire.bindings.PackedLibrary.LIBRARY_PATH;
import static dev.capwire.bindings.PackedLibrary.builtLibrary;
import static dev.capwire.bindings.PackedLibrary.classpathWithMuslBuildOnly;
import static dev.capwire.bindings.PackedLibrary.classpathWithoutNativeResources;
import static dev.capwire.bindings.PackedLibrary.muslPlatform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What loading leaves on disk. A library extracted from the jar is unlinked as soon as it is loaded, so even a
 * JVM killed with SIGKILL (whose delete-on-exit hooks never run) leaves no copy behind; a library the user
 * pointed at is loaded where it is and left there. Each child has its own {@code java.io.tmpdir}
 * ({@link ChildJvm#tmpDir}), so whatever it extracts is seen, and only its own.
 */
@ExtendWith(LeakCheck.class)
class ExtractedLibraryTest {
    private static final String LIBRARY_FILES = "libcapwire";

    @TempDir(factory = SocketDirFactory.class)
    Path dir;

    @ParameterizedTest(name = "libc={0}")
    @ValueSource(strings = {"glibc", "musl"})
    void aKilledJvmLeavesNoExtractedLibraryInItsTempDir(String libc) throws Exception {
        // glibc loads through hawtjni-runtime, musl through the loader's own extraction: both extract.
        ChildJvm.Launch launch = ChildJvm.launch(PeerChild.class).property(Platform.LIBC_PROPERTY, libc);
        if (libc.equals("musl")) {
            launch.classpath(classpathWithMuslBuildOnly(dir));
        }
        try (ChildJvm child = launch.start()) {
            String loaded = loadAndCall(child);
            assertTrue(loaded.startsWith(child.tmpDir().resolve(LIBRARY_FILES + "-").toString()),
                    "the child did not load a copy extracted into its java.io.tmpdir " + child.tmpDir() + ": "
                            + loaded);
            child.kill();
            assertEquals(List.of(), libraryFilesIn(child.tmpDir()), "left behind by the killed child");
        }
    }

    @Test
    void aCopyExtractedIntoTheLibraryPathDirectoryIsGoneToo() throws Exception {
        // With no library in -Dlibrary.capwire.path, hawtjni-runtime extracts into that directory first (the
        // way around a noexec java.io.tmpdir): that copy is Capwire's, not the user's.
        Path libraryPath = Files.createDirectory(dir.resolve("exec"));
        try (ChildJvm child = ChildJvm.launch(PeerChild.class).property(LIBRARY_PATH, libraryPath.toString())
                .start()) {
            String loaded = loadAndCall(child);
            assertTrue(loaded.startsWith(libraryPath.resolve(LIBRARY_FILES + "-").toString()),
                    "the child did not load a copy extracted into " + libraryPath + ": " + loaded);
            child.kill();
            assertEquals(List.of(), libraryFilesIn(libraryPath), "left behind by the killed child");
            assertEquals(List.of(), libraryFilesIn(child.tmpDir()), "left behind by the killed child");
        }
    }

    @Test
    void onMuslACopyThatFailsToLoadIsDeletedAtOnce() throws Exception {
        // Not a shared object: extracted, refused by dlopen, and of no use to keep even until the JVM exits.
        Path jarTree = Files.createDirectories(dir.resolve("broken-jar/" + muslPlatform().resourceDirectory()));
        Files.writeString(jarTree.resolve("libcapwire.so"), "not an ELF file");
        String classpath = classpathWithoutNativeResources(dir) + File.pathSeparator + dir.resolve("broken-jar");
        try (ChildJvm child = ChildJvm.launch(PeerChild.class).classpath(classpath)
                .property(Platform.LIBC_PROPERTY, "musl").start()) {
            ChildJvm.CommandFailedException failure = assertThrows(ChildJvm.CommandFailedException.class,
                    () -> child.ask("load"));
            String message = failure.messageOf(UnsatisfiedLinkError.class);
            assertTrue(message.contains(child.tmpDir().resolve(LIBRARY_FILES + "-").toString()),
                    "the failure does not name a copy extracted into " + child.tmpDir() + ": " + message);
            assertEquals(List.of(), libraryFilesIn(child.tmpDir()), "kept by the running child");
        }
    }

    @Test
    void hawtjnisContentNamedCopyIsKeptForTheNextJvm() throws Exception {
        // -Dhawtjni.strategy=sha1 (Windows' default) names the copy by its content's SHA-1 so that every JVM
        // reuses one file instead of extracting its own; another JVM may be loading that file right now.
        try (ChildJvm child = ChildJvm.launch(PeerChild.class).property("hawtjni.strategy", "sha1").start()) {
            String loaded = loadAndCall(child);
            assertTrue(loaded.matches(Pattern.quote(child.tmpDir().resolve(LIBRARY_FILES).toString())
                    + "-[0-9a-f]{40}\\.so"), "not a content-named copy in " + child.tmpDir() + ": " + loaded);
            child.kill();
            assertEquals(List.of(Path.of(loaded)), libraryFilesIn(child.tmpDir()));
        }
    }

    @ParameterizedTest(name = "-D{0}, libc={1}")
    @CsvSource({
        LIBRARY_PATH + ", glibc",
        LIBRARY_PATH + ", musl",
        "java.library.path, glibc",
        "java.library.path, musl",
    })
    void aLibraryTheUserPointedAtIsLoadedInPlaceAndKept(String property, String libc) throws Exception {
        // The jar's own library stays on the classpath: extracting it was possible, and must not happen.
        Path userDir = Files.createDirectory(dir.resolve("lib"));
        Path library = Files.copy(builtLibrary(), userDir.resolve("libcapwire.so"));
        try (ChildJvm child = ChildJvm.launch(PeerChild.class).property(Platform.LIBC_PROPERTY, libc)
                .property(property, userDir.toString()).start()) {
            assertEquals(library.toString(), loadAndCall(child), "the child did not load the user's file in place");
            child.kill();
            assertEquals(List.of(library), libraryFilesIn(userDir));
            assertEquals(List.of(), libraryFilesIn(child.tmpDir()), "extracted although the user's file loaded");
        }
    }

    /**
     * Loads the library in the child and makes a native call through it; returns the one library file the
     * child has mapped, as its kernel names it (an unlinked file ends in " (deleted)").
     */
    private static String loadAndCall(ChildJvm child) throws IOException {
        assertEquals("loaded", child.ask("load"));
        assertEquals(Integer.toString(Native.ABI_VERSION), child.ask("abi"), "the child's native call");
        List<String> mapped = Stream.of(child.ask("mapped " + LIBRARY_FILES).split("\n"))
                .filter(line -> !line.isEmpty()).collect(Collectors.toList());
        assertEquals(1, mapped.size(), "library files mapped in the child: " + mapped);
        return mapped.get(0);
    }

    private static List<Path> libraryFilesIn(Path directory) throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            return files.filter(file -> file.getFileName().toString().startsWith(LIBRARY_FILES)).sorted()
                    .collect(Collectors.toList());
        }
    }
}
