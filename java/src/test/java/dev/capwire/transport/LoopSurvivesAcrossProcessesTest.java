package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.testing.RawFrames;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.GoAwayReason;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Nothing a handler or a peer does kills the server's event loop (issue "Transport, part 3", item 1): the
 * server is a child JVM, and after each failure the same connection or a new one is served as before.
 */
class LoopSurvivesAcrossProcessesTest {
    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cwl");

    private static ChildJvm echoServer(Endpoint endpoint) throws Exception {
        ChildJvm child = ChildJvm.start(EchoServerMain.class, endpoint.toString());
        child.expect("READY", 30);
        return child;
    }

    private static void assertEchoes(Connection connection, String text) {
        UnsafeBuffer payload = new UnsafeBuffer(text.getBytes(StandardCharsets.UTF_8));
        Response reply = connection.call(2, 0, payload, 0, payload.capacity(), 10_000);
        assertArrayEquals(text.getBytes(StandardCharsets.UTF_8), reply.payload());
    }

    @Test
    void aThrowingHandlerAnswersInternalAndTheConnectionKeepsServing() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("throw.sock");
        try (ChildJvm server = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults());
                Connection connection = transport.connect(endpoint, (c, f) -> { });
                Connection other = transport.connect(endpoint, (c, f) -> { })) {
            UnsafeBuffer payload = new UnsafeBuffer(new byte[16]);
            for (int i = 0; i < 3; i++) {
                StatusException failure = assertThrows(StatusException.class, () -> connection.call(2,
                        EchoServerMain.METHOD_THROW, payload, 0, 16, 10_000));
                assertEquals(StatusCode.INTERNAL, failure.code(), failure.getMessage());
                assertTrue(failure.getMessage().contains("java.lang.IllegalStateException: deliberate failure"),
                        failure.getMessage());
                // Consumed exactly once: the next request on the same connection gets its own echo.
                assertEchoes(connection, "after failure " + i);
            }
            assertTrue(connection.isOpen());
            assertEchoes(other, "the other connection");
            try (Connection fresh = transport.connect(endpoint, (c, f) -> { })) {
                assertEchoes(fresh, "a new connection");
            }
        }
    }

    @Test
    void anErrorInAHandlerClosesOnlyItsOwnConnection() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("error.sock");
        try (ChildJvm server = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults());
                Connection doomed = transport.connect(endpoint, (c, f) -> { });
                Connection bystander = transport.connect(endpoint, (c, f) -> { })) {
            UnsafeBuffer payload = new UnsafeBuffer(new byte[16]);
            StatusException failure = assertThrows(StatusException.class, () -> doomed.call(2,
                    EchoServerMain.METHOD_ERROR, payload, 0, 16, 10_000));
            assertEquals(StatusCode.UNAVAILABLE, failure.code(), failure.getMessage());
            assertEchoes(bystander, "still here");
            try (Connection fresh = transport.connect(endpoint, (c, f) -> { })) {
                assertEchoes(fresh, "a new connection after the Error");
            }
        }
    }

    /**
     * A PING's PONG echoes its payload. A PING of 8 bytes followed by one of 65,512 once made the PONG overflow
     * staging and reach the ring with a record larger than it takes, whose exception killed the loop.
     */
    @Test
    void anOversizedPingEndsOnlyThatConnection() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("ping.sock");
        try (ChildJvm server = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults());
                Connection bystander = transport.connect(endpoint, (c, f) -> { })) {
            try (NativeSocket raw = NativeSocket.connect(endpoint.socketAddress(), 5000)) {
                ByteBuffer frames = ByteBuffer.allocateDirect(2 * FrameHeader.HEADER_LENGTH + 8 + 65_512)
                        .order(ByteOrder.LITTLE_ENDIAN);
                UnsafeBuffer view = new UnsafeBuffer(frames);
                FrameHeader.write(view, 0, FrameHeader.HEADER_LENGTH + 8, FrameType.PING, 0, 0, 0, 0, 0);
                int second = FrameHeader.HEADER_LENGTH + 8;
                FrameHeader.write(view, second, FrameHeader.HEADER_LENGTH + 65_512, FrameType.PING, 0, 0, 0, 0, 0);
                RawFrames.writeFully(raw, frames);
                GoAway goAway = RawFrames.readGoAway(raw);
                assertEquals(GoAwayReason.PROTOCOL_ERROR, goAway.getReason(), goAway.getMessage());
                assertTrue(goAway.getMessage().contains("PING with a payload of 65512 bytes"), goAway.getMessage());
            }
            assertEchoes(bystander, "the loop survived");
            try (Connection fresh = transport.connect(endpoint, (c, f) -> { })) {
                assertEchoes(fresh, "and accepts");
            }
        }
    }
}
