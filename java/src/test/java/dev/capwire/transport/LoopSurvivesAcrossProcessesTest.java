package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.RawFrames;
import dev.capwire.testing.SocketDir;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.GoAwayReason;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
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

    /**
     * Item 3: a server with little direct memory once died accepting (each connection took a 64 KiB staging and
     * a 128 KiB receive buffer at once: 8 MiB lasted about 40 connections, and the OutOfMemoryError killed the
     * loop). An idle connection now holds no buffer, so a thousand fit, and the server goes on serving.
     */
    @Test
    void aServerWithLittleDirectMemoryAcceptsAThousandConnections() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("direct.sock");
        try (ChildJvm server = ChildJvm.start(EchoServerMain.class, List.of("-XX:MaxDirectMemorySize=8m"),
                endpoint.toString());
                Transport transport = Transport.create(TransportOptions.defaults())) {
            server.expect("READY", 30);
            List<Connection> connections = new ArrayList<>();
            try {
                for (int i = 0; i < 1000; i++) {
                    connections.add(transport.connect(endpoint, (c, f) -> { }));
                }
                for (int i = 0; i < connections.size(); i += 100) {
                    assertEchoes(connections.get(i), "connection " + i);
                }
                try (Connection fresh = transport.connect(endpoint, (c, f) -> { })) {
                    assertEchoes(fresh, "and one more");
                }
            } finally {
                connections.forEach(Connection::close);
            }
        }
    }

    /**
     * The kernel truncates the fds of a message when the receiver's fd table is full (MSG_CTRUNC), which once
     * read as "more than 253 fds": the GOAWAY now names both causes, and the server keeps serving.
     */
    @Test
    void fdsTheServerHasNoRoomForEndOnlyThatConnectionNamingWhy() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("emfile.sock");
        try (ChildJvm server = ChildJvm.startWithFdLimit(96, EchoServerMain.class, List.of(), null,
                endpoint.toString())) {
            server.expect("READY", 30);
            servedAfterFdsItHasNoRoomFor(endpoint);
        }
    }

    private static void servedAfterFdsItHasNoRoomFor(Endpoint endpoint) throws Exception {
        try (Transport transport = Transport.create(TransportOptions.defaults());
                Connection bystander = transport.connect(endpoint, (c, f) -> { });
                dev.capwire.bindings.FileDescriptor devNull = dev.capwire.bindings.FileDescriptor.openRead(
                        java.nio.file.Path.of("/dev/null"))) {
            try (NativeSocket raw = NativeSocket.connect(endpoint.socketAddress(), 5000)) {
                dev.capwire.bindings.FileDescriptor[] fds = new dev.capwire.bindings.FileDescriptor[200];
                java.util.Arrays.fill(fds, devNull);
                ByteBuffer frame = ByteBuffer.allocateDirect(24).order(ByteOrder.LITTLE_ENDIAN);
                FrameHeader.write(new UnsafeBuffer(frame), 0, 24, FrameType.NOTIFY, 0, 0, 2, 1, 200);
                while (raw.send(frame, fds) == 0) {
                    raw.fd().awaitWritable(1000);
                }
                GoAway goAway = RawFrames.readGoAway(raw);
                assertEquals(GoAwayReason.FD_MISMATCH, goAway.getReason(), goAway.toString());
                assertTrue(goAway.getMessage().contains("out of fds"), goAway.getMessage());
            }
            assertEchoes(bystander, "the server still serves");
        }
    }

    /**
     * Item 12: after a violation the server lingers (shuts its sending side, reads and discards) on Unix sockets
     * too, so a peer still writing does not get EPIPE before it can read the GOAWAY that says why.
     */
    @Test
    void aPeerStillWritingAfterItsViolationReadsTheGoAway() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("linger.sock");
        try (ChildJvm server = echoServer(endpoint);
                NativeSocket raw = NativeSocket.connect(endpoint.socketAddress(), 5000)) {
            ByteBuffer bad = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
            FrameHeader.write(new UnsafeBuffer(bad), 0, FrameHeader.HEADER_LENGTH, FrameType.NOTIFY, 0, 0, 2, 1, 0);
            bad.put(FrameHeader.VERSION_OFFSET, (byte) 9); // a version nobody speaks
            RawFrames.writeFully(raw, bad);
            ByteBuffer more = ByteBuffer.allocateDirect(16 * 1024);
            long writeUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(300);
            long written = 0;
            while (System.nanoTime() < writeUntil) {
                more.clear();
                written += raw.write(more); // EPIPE here (PeerGoneException) would fail the test
            }
            assertTrue(written > 0, "the server read what came after the violation");
            GoAway goAway = RawFrames.readGoAway(raw);
            assertEquals(GoAwayReason.UNSUPPORTED_VERSION, goAway.getReason(), goAway.toString());
        }
    }
}
