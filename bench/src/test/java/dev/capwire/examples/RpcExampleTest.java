package dev.capwire.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RpcExampleTest {
    /** README's example: each kind of method, and the server's handler sees this child as its caller. */
    @Test
    void usesEachKindOfMethodAndLeavesNoSocketBehind(@TempDir Path tmp) throws Exception {
        ExampleRun run = ExampleRun.of(RpcExample.class, tmp);
        long uid = ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
        assertEquals("hello, world: the server saw pid " + run.pid() + ", uid " + uid + "\n"
                + "counter: 1, 2\n"
                + "countdown: 3\ncountdown: 2\ncountdown: 1\n"
                + "motd: read from a pipe the server opened\n", run.stdout());
        assertEquals("", run.stderr(), "nothing on stderr");
        assertTrue(run.socketsLeft().isEmpty(), "the example left its socket: " + run.socketsLeft());
    }
}
