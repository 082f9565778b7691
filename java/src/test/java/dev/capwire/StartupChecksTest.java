package dev.capwire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.capwire.bindings.StartupChecks;
import dev.capwire.testing.ChildJvm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What a JVM started without the flags the README asks for sees: a message naming the missing flag, never
 * Agrona's raw {@link IllegalAccessError}; and on Java 24+, which warnings appear and which flags silence them.
 */
class StartupChecksTest {
    private static final Path JVM_DIRECTORY = Path.of("/usr/lib/jvm");
    private static final String CAPWIRE_NATIVE_ACCESS_WARNING = "Capwire loads its native library through JNI";
    private static final String UNSAFE_MEMORY_ACCESS_ALLOW = "--sun-misc-unsafe-memory-access=allow";
    private static final List<String> ADD_OPENS = Arrays.asList(StartupChecks.ADD_OPENS_FLAG.split(" "));

    private Path dir;

    @BeforeEach
    void directory() throws IOException {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cws");
    }

    @AfterEach
    void cleanUp() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Files.deleteIfExists(file);
            }
        }
        Files.delete(dir);
    }

    @Test
    void withoutTheAddOpensFlagTransportCreateNamesTheFlag() throws Exception {
        String outcome = runChild(currentJavaHome(), List.of(), "no-opens");
        assertTrue(outcome.startsWith("FAILED " + IllegalStateException.class.getName() + ": "), outcome);
        assertTrue(outcome.contains(StartupChecks.ADD_OPENS_FLAG), outcome);
        assertFalse(outcome.contains(IllegalAccessError.class.getSimpleName()), outcome);
    }

    @Test
    void withTheFlagsTheSameChildWorks() throws Exception {
        assertEquals("ECHOED hello", runChild(currentJavaHome(), documentedFlags(), "flags"));
    }

    @Test
    void onJava24PlusWithoutNativeAccessCapwireWarnsOnceNamingTheFlagAndStillWorks() throws Exception {
        Path javaHome = java24PlusHome();
        assertEquals("ECHOED hello", runChild(javaHome, ADD_OPENS, "no-native-access"));
        String stderr = Files.readString(dir.resolve("no-native-access.stderr"));
        List<String> warnings = linesContaining(stderr, CAPWIRE_NATIVE_ACCESS_WARNING);
        assertEquals(1, warnings.size(), stderr);
        assertTrue(warnings.get(0).contains(StartupChecks.NATIVE_ACCESS_FLAG), stderr);
        // What the README says a user sees on Java 24+ without the last flag: protobuf-java's warning.
        assertTrue(stderr.contains("sun.misc.Unsafe") && stderr.contains("com.google.protobuf"), stderr);
    }

    @Test
    void onJava24PlusTheDocumentedFlagsStartWithoutAnyWarning() throws Exception {
        Path javaHome = java24PlusHome();
        List<String> flags = new ArrayList<>(documentedFlags());
        flags.add(UNSAFE_MEMORY_ACCESS_ALLOW);
        assertEquals("ECHOED hello", runChild(javaHome, flags, "all-flags"));
        String stderr = Files.readString(dir.resolve("all-flags.stderr"));
        assertEquals(List.of(), linesContaining(stderr, "WARNING"), stderr);
    }

    /** Runs {@link StartupMain}; returns its one line of outcome, its stderr kept in {@code <name>.stderr}. */
    private String runChild(Path javaHome, List<String> flags, String name) throws Exception {
        Path stderr = dir.resolve(name + ".stderr");
        try (ChildJvm child = ChildJvm.startBare(javaHome, StartupMain.class, flags, Map.of(), stderr,
                dir.resolve(name + ".sock").toString())) {
            String outcome = child.readLine(120);
            assertEquals(0, child.finish(30), "exit code; stderr:\n" + Files.readString(stderr));
            return outcome;
        }
    }

    private static List<String> documentedFlags() {
        List<String> flags = new ArrayList<>(ADD_OPENS);
        flags.add(StartupChecks.NATIVE_ACCESS_FLAG);
        return flags;
    }

    private static List<String> linesContaining(String text, String part) {
        List<String> lines = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.contains(part)) {
                lines.add(line);
            }
        }
        return lines;
    }

    private static Path currentJavaHome() {
        return Path.of(System.getProperty("java.home"));
    }

    /** A JDK of release 24 or later under /usr/lib/jvm; the test is skipped, saying so, when there is none. */
    private static Path java24PlusHome() throws IOException {
        Optional<Path> found = Optional.empty();
        if (Files.isDirectory(JVM_DIRECTORY)) {
            try (Stream<Path> homes = Files.list(JVM_DIRECTORY)) {
                found = homes.filter(home -> featureRelease(home) >= 24).sorted().findFirst();
            }
        }
        assumeTrue(found.isPresent(), "skipped: no JDK 24+ under " + JVM_DIRECTORY
                + " to check the native-access and sun.misc.Unsafe warnings with");
        return found.get();
    }

    /** The feature release a JDK's {@code release} file declares (JAVA_VERSION="25.0.3"), or 0. */
    private static int featureRelease(Path home) {
        Path release = home.resolve("release");
        if (!Files.isRegularFile(release) || !Files.isExecutable(home.resolve("bin").resolve("java"))) {
            return 0;
        }
        try {
            for (String line : Files.readAllLines(release)) {
                if (line.startsWith("JAVA_VERSION=")) {
                    String version = line.substring("JAVA_VERSION=".length()).replace("\"", "");
                    return Integer.parseInt(version.split("[.+-]")[0]);
                }
            }
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
        return 0;
    }
}
