package dev.capwire.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bench.JvmFlags;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * An example's main run the way a user would run it: in a JVM of its own with only the documented flags, and a
 * temp directory of its own, so a test can see that it exited cleanly, what it printed, and that it left no
 * socket behind.
 */
record ExampleRun(long pid, String stdout, String stderr, List<Path> socketsLeft) {
    /** Generous: the machine is shared and a JVM may take seconds to start under load. */
    private static final long TIMEOUT_SECONDS = 60;

    /** Runs {@code main} to its end; fails the test if it does not exit 0 in time. */
    static ExampleRun of(Class<?> main, Path tmp) throws Exception {
        Path stdout = tmp.resolve("stdout");
        Path stderr = tmp.resolve("stderr");
        Path childTmp = Files.createDirectory(tmp.resolve("tmp"));
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(JvmFlags.all());
        command.add("-Djava.io.tmpdir=" + childTmp);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        Process child = new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile())
                .start();
        try {
            assertTrue(child.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS), main.getSimpleName() + " still running after "
                    + TIMEOUT_SECONDS + " s; stderr:\n" + Files.readString(stderr));
        } finally {
            child.destroyForcibly();
        }
        assertEquals(0, child.exitValue(), "stderr:\n" + Files.readString(stderr));
        return new ExampleRun(child.pid(), Files.readString(stdout, StandardCharsets.UTF_8),
                Files.readString(stderr, StandardCharsets.UTF_8), socketsIn(childTmp));
    }

    private static List<Path> socketsIn(Path directory) throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            return files.filter(file -> file.getFileName().toString().endsWith(".sock")).toList();
        }
    }
}
