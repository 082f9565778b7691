package dev.capwire.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class DemoTest {
    @Test
    void theChildCallsTheGreeterCapAndTheServerSeesItsKernelVerifiedIdentity() throws Exception {
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        Demo.Outcome outcome = Demo.parent(new PrintStream(printed, true, StandardCharsets.UTF_8));

        assertEquals(outcome.childPid(), outcome.peer().pid().getAsLong());
        // /proc/self belongs to this process's effective uid and gid, which the child inherited.
        Path self = Path.of("/proc/self");
        assertEquals(((Number) Files.getAttribute(self, "unix:uid")).longValue(), outcome.peer().uid().getAsLong());
        assertEquals(((Number) Files.getAttribute(self, "unix:gid")).longValue(), outcome.peer().gid().getAsLong());
        assertTrue(outcome.greeting().startsWith("hello, demo child: the server saw pid " + outcome.childPid() + ","),
                outcome.greeting());
        String transcript = printed.toString(StandardCharsets.UTF_8);
        assertTrue(transcript.contains(outcome.greeting()), transcript);
        assertTrue(transcript.contains("counter (a cap the greeter returned): 1, 2"), transcript);
        assertTrue(transcript.contains("countdown (a server stream, with credit): 5 4 3 2 1"), transcript);
        assertTrue(transcript.contains("an fd the server passed): read from a pipe the server opened"), transcript);
    }
}
