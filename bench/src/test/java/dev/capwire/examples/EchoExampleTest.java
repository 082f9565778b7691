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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EchoExampleTest {
    /** Generous: the machine is shared and a JVM may take seconds to start under load. */
    private static final long TIMEOUT_SECONDS = 60;

    /**
     * Runs the example the way a user would, in a JVM of its own with only the documented flags. Its own temp
     * directory shows the example removed its socket (and the extracted native library goes there too).
     */
    @Test
    void echoesHelloAndNamesItsOwnPidAsTheServer(@TempDir Path tmp) throws Exception {
        Path stdout = tmp.resolve("stdout");
        Path stderr = tmp.resolve("stderr");
        Path childTmp = Files.createDirectory(tmp.resolve("tmp"));
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(JvmFlags.all());
        command.add("-Djava.io.tmpdir=" + childTmp);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), EchoExample.class.getName()));
        Process child = new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile())
                .start();
        try {
            assertTrue(child.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS), "EchoExample still running after "
                    + TIMEOUT_SECONDS + " s; stderr:\n" + Files.readString(stderr));
        } finally {
            child.destroyForcibly();
        }

        assertEquals(0, child.exitValue(), "stderr:\n" + Files.readString(stderr));
        // Client and server are one process, so the kernel names this child as the server.
        assertEquals("hello from pid " + child.pid() + "\n", Files.readString(stdout, StandardCharsets.UTF_8));
        assertTrue(socketsIn(childTmp).isEmpty(), "the example left its socket: " + socketsIn(childTmp));
    }

    private static List<Path> socketsIn(Path directory) throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            return files.filter(file -> file.getFileName().toString().endsWith(".sock")).toList();
        }
    }
}
