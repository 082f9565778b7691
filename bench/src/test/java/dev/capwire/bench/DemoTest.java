package dev.capwire.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class DemoTest {
    @Test
    void theBrokerActivatesTheBackendAndHandsItTheClientWhichUsesTheTypedCaps() throws Exception {
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        DemoBroker.Outcome outcome = DemoBroker.run(new PrintStream(printed, true, StandardCharsets.UTF_8));
        String transcript = printed.toString(StandardCharsets.UTF_8);

        // Three processes: this one (the broker), the backend it launched, the client it started.
        assertEquals(ProcessHandle.current().pid(), outcome.brokerPid());
        assertTrue(outcome.backendPid() > 0, transcript);
        assertNotEquals(outcome.brokerPid(), outcome.backendPid());
        assertNotEquals(outcome.clientPid(), outcome.backendPid());
        assertTrue(transcript.contains("launched backend pid " + outcome.backendPid()), transcript);
        assertTrue(transcript.contains("backend pid " + outcome.backendPid() + " registered [greeter]"), transcript);

        // The hand-off: the broker handed the client's own socket over, and the client saw it come through.
        assertEquals(outcome.clientPid(), outcome.handedOffClientPid(), transcript);
        assertTrue(outcome.helloToAckNanos() > 0, transcript);
        assertTrue(outcome.clientHandedOff(), transcript);

        // The backend saw the client's real, kernel-verified pid and uid on that socket (not the broker's).
        long uid = ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
        assertEquals("hello, demo client: the server saw pid " + outcome.clientPid() + ", uid " + uid,
                outcome.greeting(), transcript);
        assertTrue(transcript.contains("backend " + outcome.backendPid() + ": greet(\"demo client\") from "),
                transcript);

        // The other typed calls: a returned cap, a stream, an fd through a method.
        assertTrue(transcript.contains("counter (a cap the greeter returned): 1, 2"), transcript);
        assertTrue(transcript.contains("countdown (a server stream, with credit): 5 4 3 2 1"), transcript);
        assertTrue(transcript.contains("an fd the backend passed): read from a pipe the server opened"), transcript);

        // The broker stopped the backend it started; the client exited: nothing is left behind.
        assertEquals(List.of(), outcome.childrenLeft(), transcript);
        assertTrue(transcript.contains("backend pid " + outcome.backendPid() + " exited"), transcript);
        assertTrue(ProcessHandle.of(outcome.backendPid()).map(p -> !p.isAlive()).orElse(true), transcript);
        assertTrue(ProcessHandle.of(outcome.clientPid()).map(p -> !p.isAlive()).orElse(true), transcript);
    }
}
