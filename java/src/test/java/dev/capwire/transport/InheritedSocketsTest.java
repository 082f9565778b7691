package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.testing.SocketDir;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Map;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Socket activation: which environments pass sockets to this process, and serving one already listening. */
class InheritedSocketsTest {
    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cwi");

    private static final long PID = ProcessHandle.current().pid();

    @Test
    void socketsPassedToAnotherProcessOrToNobodyAreNotOurs() {
        assertEquals(0, InheritedSockets.count(Map.of(), PID));
        assertEquals(0, InheritedSockets.count(Map.of("LISTEN_PID", Long.toString(PID + 1), "LISTEN_FDS", "2"), PID),
                "a parent's variables, inherited");
        assertEquals(2, InheritedSockets.count(Map.of("LISTEN_PID", Long.toString(PID), "LISTEN_FDS", "2"), PID));
        assertTrue(InheritedSockets.take(Map.of(), PID).isEmpty());
    }

    @Test
    void aMalformedCountIsAnErrorNotAGuess() {
        assertThrows(IllegalStateException.class, () -> InheritedSockets.count(Map.of("LISTEN_PID", Long.toString(PID),
                "LISTEN_FDS", "two"), PID));
        assertThrows(IllegalStateException.class, () -> InheritedSockets.count(Map.of("LISTEN_PID", Long.toString(PID),
                "LISTEN_FDS", "65"), PID));
        assertThrows(IllegalStateException.class, () -> InheritedSockets.count(Map.of("LISTEN_PID", Long.toString(PID),
                "LISTEN_FDS", "-1"), PID));
    }

    @Test
    void aServerOnASocketBoundElsewhereServesAndLeavesTheSocketFileToItsOwner() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("inherited");
        byte[] ask = "ping".getBytes(StandardCharsets.US_ASCII);
        try (Transport server = Transport.create(TransportOptions.defaults());
                Transport client = Transport.create(TransportOptions.defaults())) {
            NativeSocket listening = NativeSocket.listen(endpoint.socketAddress(), 16);
            Server served = server.listen(listening, (connection, frame) -> connection.respond(frame.correlationId(),
                    frame.buffer(), frame.payloadOffset(), frame.payloadLength()));
            assertEquals(endpoint, served.endpoint());
            Connection connection = client.connect(endpoint, (c, f) -> { });
            assertArrayEquals(ask, connection.call(2, 1, new UnsafeBuffer(ask), 0, ask.length, 10_000).payload());
            connection.close();
            served.close();
            assertTrue(Files.exists(SOCKETS.path("inherited")), "the file is the service manager's to remove");
            Files.delete(SOCKETS.path("inherited"));
        }
    }
}
