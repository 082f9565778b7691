package dev.capwire.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EchoExampleTest {
    @Test
    void echoesHelloAndNamesItsOwnPidAsTheServer(@TempDir Path tmp) throws Exception {
        ExampleRun run = ExampleRun.of(EchoExample.class, tmp);
        // Client and server are one process, so the kernel names this child as the server.
        assertEquals("hello from pid " + run.pid() + "\n", run.stdout());
        assertTrue(run.socketsLeft().isEmpty(), "the example left its socket: " + run.socketsLeft());
    }
}
