package dev.capwire.bindings;

import static dev.capwire.bindings.PackedLibrary.builtLibrary;
import static dev.capwire.bindings.PackedLibrary.classpathWithMuslBuildOnly;
import static dev.capwire.bindings.PackedLibrary.classpathWithoutNativeResources;
import static dev.capwire.bindings.PackedLibrary.muslPlatform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** How the library loads, or says why it cannot, in fresh child JVMs. */
@ExtendWith(LeakCheck.class)
class LoaderTest {
    private static final String NATIVE_RESOURCES = PackedLibrary.NATIVE_RESOURCES;
    private static final String LIBRARY_PATH = PackedLibrary.LIBRARY_PATH;

    @TempDir(factory = SocketDirFactory.class)
    Path dir;

    @Test
    void withoutTheAddOpensFlagLoadingFailsNamingTheExactFlag() throws Exception {
        try (ChildJvm child = ChildJvm.launch(PeerChild.class)
                .jvmFlags(List.of(ChildJvm.NATIVE_ACCESS_FLAG)).start()) {
            ChildJvm.CommandFailedException failure = assertThrows(ChildJvm.CommandFailedException.class,
                    () -> child.ask("load"));
            String message = failure.messageOf(IllegalStateException.class);
            assertTrue(message.contains(StartupChecks.ADD_OPENS_FLAG), message);
            assertEquals("--add-opens java.base/jdk.internal.misc=ALL-UNNAMED", StartupChecks.ADD_OPENS_FLAG);
        }
    }

    @Test
    void withNoLibraryAnywhereTheErrorSaysWhatItTriedAndHowToOverride() throws Exception {
        Path empty = Files.createDirectory(dir.resolve("empty"));
        try (ChildJvm child = ChildJvm.launch(PeerChild.class).classpath(classpathWithoutNativeResources(dir))
                .property(LIBRARY_PATH, empty.toString()).start()) {
            ChildJvm.CommandFailedException failure = assertThrows(ChildJvm.CommandFailedException.class,
                    () -> child.ask("load"));
            String message = failure.messageOf(UnsatisfiedLinkError.class);
            for (String expected : new String[] {
                "os.name=" + System.getProperty("os.name"),
                "os.arch=" + System.getProperty("os.arch"),
                "detected " + Platform.current(),
                "Tried: " + new File(empty.toFile(), "libcapwire.so") + " (from -D" + LIBRARY_PATH + ")",
                "java.library.path=",
                "classpath resource " + NATIVE_RESOURCES + "/",
                "-D" + LIBRARY_PATH + "=DIR",
                "noexec",
            }) {
                assertTrue(message.contains(expected), "'" + expected + "' missing from: " + message);
            }
        }
    }

    @Test
    void onMuslTheErrorSaysTheLibraryPathIsOnlyLoadedFromAndHowToGetPastANoexecTmpdir() throws Exception {
        // On musl a custom path is the one place tried, and nothing is ever extracted into it: the message must
        // not claim otherwise (as it did), nor offer that property as a place to extract into.
        Path empty = Files.createDirectory(dir.resolve("empty"));
        try (ChildJvm child = ChildJvm.launch(PeerChild.class).classpath(classpathWithMuslBuildOnly(dir))
                .property("capwire.libc", "musl").property(LIBRARY_PATH, empty.toString()).start()) {
            ChildJvm.CommandFailedException failure = assertThrows(ChildJvm.CommandFailedException.class,
                    () -> child.ask("load"));
            String message = failure.messageOf(UnsatisfiedLinkError.class);
            String tried = message.substring(message.indexOf("Tried: "), message.indexOf("\n  Reasons: "));
            assertEquals("Tried: " + new File(empty.toFile(), "libcapwire.so") + " (from -D" + LIBRARY_PATH + ")",
                    tried, message);
            assertTrue(message.contains("-D" + LIBRARY_PATH + "=DIR (on musl it is loaded from there, and nothing is "
                    + "extracted)"), message);
            assertTrue(message.contains("-Djava.io.tmpdir="), message);
            assertTrue(!message.contains("extract into when"), message);
        }
    }

    @Test
    void theLibraryPathPropertyLoadsTheLibraryFromThatDirectory() throws Exception {
        Path library = Files.createDirectory(dir.resolve("lib"));
        Files.copy(builtLibrary(), library.resolve("libcapwire.so"));
        try (ChildJvm child = ChildJvm.launch(PeerChild.class).classpath(classpathWithoutNativeResources(dir))
                .property(LIBRARY_PATH, library.toString()).start()) {
            assertEquals("loaded", child.ask("load"));
        }
    }

    @Test
    void onMuslTheMuslBuildIsLoadedFromItsOwnDirectory() throws Exception {
        // This host is glibc, so the musl path is taken by override.
        try (ChildJvm child = ChildJvm.launch(PeerChild.class).classpath(classpathWithMuslBuildOnly(dir))
                .property("capwire.libc", "musl").start()) {
            assertEquals("loaded", child.ask("load"));
        }
    }

    @Test
    void onMuslTheGlibcBuildIsNeverTried() throws Exception {
        // The glibc build is on the classpath, the musl one is not: the load must fail without touching it.
        Path jarTree = Files.createDirectories(dir.resolve("glibc-jar/" + NATIVE_RESOURCES + "/linux64"));
        Files.copy(builtLibrary(), jarTree.resolve("libcapwire.so"));
        String classpath = classpathWithoutNativeResources(dir) + File.pathSeparator + dir.resolve("glibc-jar");
        try (ChildJvm child = ChildJvm.launch(PeerChild.class).classpath(classpath)
                .property("capwire.libc", "musl").start()) {
            ChildJvm.CommandFailedException failure = assertThrows(ChildJvm.CommandFailedException.class,
                    () -> child.ask("load"));
            String message = failure.messageOf(UnsatisfiedLinkError.class);
            assertTrue(message.contains("detected " + muslPlatform()), message);
            assertTrue(message.contains("classpath resource " + muslPlatform().resourceDirectory() + "libcapwire.so"),
                    message);
            assertTrue(message.contains("this jar has no library for " + muslPlatform()), message);
            assertTrue(!message.contains(NATIVE_RESOURCES + "/linux64/libcapwire.so"), message);
        }
    }

    @Test
    void loadingTheLibraryLeavesNoSocketOpenInTheApplicationsProcess() throws Exception {
        // Loading runs the platform detection in every JVM that uses Capwire. Were that the JVM's first NIO
        // FileChannel (Files.lines, Files.copy, Files.createTempFile...), the JDK's FileDispatcherImpl would open
        // its pre-close socketpair and keep one end for the JVM's life: an fd the application never opened.
        try (ChildJvm child = ChildJvm.launch(PeerChild.class).start()) {
            String before = child.ask("fds");
            assertEquals("loaded", child.ask("load"));
            String after = child.ask("fds");
            assertEquals(sockets(before), sockets(after), "sockets before loading: " + before + "; after: " + after);
        }
    }

    private static long sockets(String fds) {
        return fds.split("socket:\\[", -1).length - 1;
    }
}
