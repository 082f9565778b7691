package dev.capwire.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bench.JvmFlags;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RpcExampleTest {
    /** Generous: the machine is shared and a JVM may take seconds to start under load. */
    private static final long TIMEOUT_SECONDS = 60;

    /** Runs README's example as a user would, in a JVM of its own with only the documented flags. */
    @Test
    void usesEachKindOfMethodAndLeavesNoSocketBehind(@TempDir Path tmp) throws Exception {
        Path stdout = tmp.resolve("stdout");
        Path stderr = tmp.resolve("stderr");
        Path childTmp = Files.createDirectory(tmp.resolve("tmp"));
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(JvmFlags.all());
        command.add("-Djava.io.tmpdir=" + childTmp);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), RpcExample.class.getName()));
        Process child = new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile())
                .start();
        try {
            assertTrue(child.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS), "RpcExample still running after "
                    + TIMEOUT_SECONDS + " s; stderr:\n" + Files.readString(stderr));
        } finally {
            child.destroyForcibly();
        }
        assertEquals(0, child.exitValue(), "stderr:\n" + Files.readString(stderr));
        long uid = ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
        // Client and server are one process, so the server's handler sees this child as its caller.
        assertEquals("hello, world: the server saw pid " + child.pid() + ", uid " + uid + "\n"
                + "counter: 1, 2\n"
                + "countdown: 3\ncountdown: 2\ncountdown: 1\n"
                + "motd: read from a pipe the server opened\n", Files.readString(stdout, StandardCharsets.UTF_8));
        assertEquals("", Files.readString(stderr), "nothing on stderr");
        try (var left = Files.list(childTmp)) {
            assertTrue(left.noneMatch(file -> file.toString().endsWith(".sock")), "the example left its socket");
        }
    }
}
