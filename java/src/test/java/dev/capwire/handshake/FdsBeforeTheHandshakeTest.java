package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.RawFrames;
import dev.capwire.transport.Endpoint;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.HelloReply;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * fds only where agreed (issue 11): fds that arrive before the handshake completes must be closed at once in
 * the server and the connection ended with a GOAWAY naming the reason. The server is a real
 * {@link HandshakeServerMain} process; this test sends it fds over a bare Unix socket with SCM_RIGHTS, all
 * of them open on a marker file of its own, and counts the server's {@code /proc/<pid>/fd} links to that file
 * (the test closes its own copies first, so every link left is the server's).
 *
 * <p>Before the inbound gate refused them, the server negotiated such a connection: the fds a HELLO declared
 * were closed after the frame, but the handshake went on as if they were not there, and fds a HELLO did not
 * declare stayed open in the server for the connection's whole life.
 */
@ExtendWith(NoLeaks.class)
class FdsBeforeTheHandshakeTest {
    private Path dir;
    private Path marker;
    private ChildJvm server;
    private Endpoint endpoint;

    @BeforeEach
    void startServer() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwf");
        marker = Files.writeString(dir.resolve("marker"), "fds for the server").toRealPath();
        server = ChildJvm.start(HandshakeServerMain.class, Endpoint.unix(dir.resolve("s")).toString());
        endpoint = Endpoint.parse(server.expect("READY", 30));
        assertEquals(0, serverLinksToMarker(), "the server holds none of the marker's fds yet");
    }

    @AfterEach
    void stopServer() throws Exception {
        try {
            assertEquals(0, server.finish(30), "exit status of the server");
        } finally {
            Files.deleteIfExists(dir.resolve("s"));
            Files.deleteIfExists(marker);
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void fdsDeclaredByAHelloAreClosedAtOnceAndTheConnectionEndsWithAGoAway() throws Exception {
        assertFdsRefused(3);
    }

    @Test
    void fdsNoFrameDeclaredBeforeTheHandshakeAreClosedAtOnceAndTheConnectionEndsWithAGoAway() throws Exception {
        assertFdsRefused(0);
    }

    /** Sends a good Hello whose header declares {@code declared} fds, with 3 fds attached. */
    private void assertFdsRefused(int declared) throws Exception {
        byte[] payload = Hello.newBuilder().setMinProtocolVersion(1).setMaxProtocolVersion(1).setServiceName("echo")
                .setClientNonce(ByteString.copyFrom(new byte[32])).build().toByteArray();
        ByteBuffer frame = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH + payload.length);
        UnsafeBuffer view = new UnsafeBuffer(frame);
        FrameHeader.write(view, 0, frame.capacity(), FrameType.HELLO, 0, 0, 0, 0, declared);
        view.putBytes(FrameHeader.HEADER_LENGTH, payload);
        try (NativeSocket raw = NativeSocket.connect(endpoint.socketAddress(), 5000)) {
            FileDescriptor[] fds = {FileDescriptor.openRead(marker), FileDescriptor.openRead(marker),
                FileDescriptor.openRead(marker)};
            try {
                while (raw.send(frame, fds) == 0) {
                    raw.fd().awaitWritable(1000);
                }
                RawFrames.writeFully(raw, frame);
            } finally {
                for (FileDescriptor fd : fds) {
                    fd.close();
                }
            }
            // The first and only frame back is the GOAWAY: no HELLO_REPLY for a Hello that brought fds.
            GoAway goAway = GoAway.parseFrom(RawFrames.readFrame(raw, FrameType.GOAWAY));
            assertEquals(GoAwayReason.HANDSHAKE_FAILED, goAway.getReason(), goAway.toString());
            assertTrue(goAway.getMessage().contains("fd"), "the GOAWAY names the fds: " + goAway);
            RawFrames.readToEnd(raw);
        }
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (serverLinksToMarker() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, serverLinksToMarker(), "the server closed every fd it was sent");
    }

    /**
     * After the handshake, fds travel only where both sides advertised {@link Capabilities#FD_PASSING}: a client
     * that did not advertise it and sends fds anyway ends its connection, the fds closed; one that did is served.
     */
    @Test
    void fdsTravelOnlyWhereFdPassingWasNegotiated() throws Exception {
        assertEquals(GoAwayReason.FD_MISMATCH, sendFdsAfterHandshake(0).getReason());
        assertEquals(null, sendFdsAfterHandshake(Capabilities.FD_PASSING), "served: the NOTIFY came back");
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (serverLinksToMarker() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, serverLinksToMarker(), "the server closed every fd it was sent");
    }

    /**
     * Negotiates with {@code capabilities}, then sends a NOTIFY carrying 3 fds; returns the GOAWAY that ended the
     * connection, or null when the server echoed the NOTIFY instead.
     */
    private GoAway sendFdsAfterHandshake(long capabilities) throws Exception {
        byte[] hello = Hello.newBuilder().setMinProtocolVersion(1).setMaxProtocolVersion(1).setServiceName("echo")
                .setClientNonce(ByteString.copyFrom(new byte[32])).setCapabilities(capabilities).build().toByteArray();
        ByteBuffer frame = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH + hello.length);
        UnsafeBuffer view = new UnsafeBuffer(frame);
        FrameHeader.write(view, 0, frame.capacity(), FrameType.HELLO, 0, 0, 0, 0, 0);
        view.putBytes(FrameHeader.HEADER_LENGTH, hello);
        try (NativeSocket raw = NativeSocket.connect(endpoint.socketAddress(), 5000)) {
            RawFrames.writeFully(raw, frame);
            HelloReply reply = HelloReply.parseFrom(RawFrames.readFrame(raw, FrameType.HELLO_REPLY));
            assertTrue(reply.hasNegotiated(), reply.toString());
            assertEquals(capabilities & Capabilities.FD_PASSING, reply.getNegotiated().getCapabilities() & 1);
            ByteBuffer notify = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH + 8);
            FrameHeader.write(new UnsafeBuffer(notify), 0, notify.capacity(), FrameType.NOTIFY, 0, 0, 2, 1, 3);
            FileDescriptor[] fds = {FileDescriptor.openRead(marker), FileDescriptor.openRead(marker),
                FileDescriptor.openRead(marker)};
            try {
                while (raw.send(notify, fds) == 0) {
                    raw.fd().awaitWritable(1000);
                }
                RawFrames.writeFully(raw, notify);
            } finally {
                for (FileDescriptor fd : fds) {
                    fd.close();
                }
            }
            if (capabilities == Capabilities.FD_PASSING) {
                RawFrames.readFrame(raw, FrameType.NOTIFY); // the echo: the connection lives on
                return null;
            }
            GoAway goAway = GoAway.parseFrom(RawFrames.readFrame(raw, FrameType.GOAWAY));
            assertTrue(goAway.getMessage().contains("did not negotiate fd passing"), goAway.toString());
            RawFrames.readToEnd(raw);
            return goAway;
        }
    }

    /** How many of the server process's fds point at the marker file. */
    private long serverLinksToMarker() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + server.pid() + "/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).equals(marker);
                } catch (IOException gone) {
                    return false;
                }
            }).count();
        }
    }
}
