package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.testing.Leaks;
import dev.capwire.testing.RawFrames;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.GoAwayReason;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Hostile bytes from a raw socket: each must end that connection with a GOAWAY naming the violation, while
 * a well-behaved client on the same server carries on.
 */
class BadInputTest {
    private Path dir;
    private Transport transport;
    private Server server;
    private Connection goodClient;
    private TreeMap<Integer, String> fdsBefore;

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwb"); // first: it opens the JDK's /dev/urandom for good
        fdsBefore = Leaks.openFds();
        transport = Transport.create(TransportOptions.defaults());
        server = transport.listen(Endpoint.unix(dir.resolve("s")), EchoServerMain::echo);
        goodClient = transport.connect(server.endpoint(), (c, f) -> { });
    }

    @AfterEach
    void stop() throws Exception {
        transport.close();
        Files.deleteIfExists(dir);
        assertNull(Leaks.fdsLeftOver(fdsBefore), "fds left open");
    }

    /** Sends the bytes written by {@code attack}, then reads to EOF and returns the GOAWAY the server sent. */
    private GoAway attack(Consumer<UnsafeBuffer> attack, int length) throws Exception {
        UnsafeBuffer bytes = new UnsafeBuffer(ByteBuffer.allocateDirect(length));
        attack.accept(bytes);
        try (NativeSocket raw = NativeSocket.connect(server.endpoint().socketAddress(), 5000)) {
            RawFrames.writeFully(raw, bytes.byteBuffer().duplicate().clear().limit(length));
            return RawFrames.readGoAway(raw);
        } finally {
            assertGoodClientStillServed();
        }
    }

    private void assertGoodClientStillServed() {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[] {1, 2, 3});
        assertEquals(3, goodClient.call(2, 1, payload, 0, 3, 5000).payload().length);
    }

    private static void validHeader(UnsafeBuffer bytes, int length) {
        FrameHeader.write(bytes, 0, length, FrameType.REQUEST, 0, 1, 2, 1, 0);
    }

    @Test
    void anOversizedLengthIsRefusedWithoutWaitingForIt() throws Exception {
        GoAway goAway = attack(b -> {
            validHeader(b, 24);
            b.putInt(0, Integer.MAX_VALUE, FrameHeader.ORDER); // claims 2 GiB; only the header follows
        }, 24);
        assertEquals(GoAwayReason.FRAME_TOO_LARGE, goAway.getReason());
        assertTrue(goAway.getMessage().contains("2147483647"), goAway.getMessage());
    }

    @Test
    void aLengthBelowTheHeaderIsMalformed() throws Exception {
        GoAway goAway = attack(b -> validHeader(b, 3), 24);
        assertEquals(GoAwayReason.MALFORMED_FRAME, goAway.getReason());
    }

    @Test
    void aBadVersionIsRefused() throws Exception {
        GoAway goAway = attack(b -> {
            validHeader(b, 24);
            b.putByte(FrameHeader.VERSION_OFFSET, (byte) 9);
        }, 24);
        assertEquals(GoAwayReason.UNSUPPORTED_VERSION, goAway.getReason());
        assertTrue(goAway.getMessage().contains("9"), goAway.getMessage());
    }

    @Test
    void anUnknownFrameTypeIsRefused() throws Exception {
        GoAway goAway = attack(b -> {
            validHeader(b, 24);
            b.putByte(FrameHeader.TYPE_OFFSET, (byte) 200);
        }, 24);
        assertEquals(GoAwayReason.UNKNOWN_FRAME_TYPE, goAway.getReason());
        assertTrue(goAway.getMessage().contains("200"), goAway.getMessage());
    }

    @Test
    void reservedFlagBitsAreMalformed() throws Exception {
        GoAway goAway = attack(b -> {
            validHeader(b, 24);
            b.putShort(FrameHeader.FLAGS_OFFSET, (short) 0x8000, FrameHeader.ORDER);
        }, 24);
        assertEquals(GoAwayReason.MALFORMED_FRAME, goAway.getReason());
    }

    @Test
    void fdsDeclaredButNeverSentAreAnFdMismatch() throws Exception {
        GoAway goAway = attack(b -> FrameHeader.write(b, 0, 24, FrameType.REQUEST, 0, 1, 2, 1, 2), 24);
        assertEquals(GoAwayReason.FD_MISMATCH, goAway.getReason());
    }

    /** fds sent with frames that declare none must not pile up: that would exhaust the server's fd table. */
    @Test
    void fdsThatNoFrameDeclaresAreAnFdMismatchAndAllAreClosed() throws Exception {
        try (NativeSocket raw = NativeSocket.connect(server.endpoint().socketAddress(), 5000);
                FileDescriptor devNull = FileDescriptor.openRead(Path.of("/dev/null"))) {
            FileDescriptor[] fds = new FileDescriptor[200];
            java.util.Arrays.fill(fds, devNull);
            ByteBuffer frame = ByteBuffer.allocateDirect(24);
            FrameHeader.write(new UnsafeBuffer(frame), 0, 24, FrameType.NOTIFY, 0, 0, 2, 1, 0); // declares 0 fds
            for (int i = 0; i < 2; i++) {
                frame.clear();
                while (raw.send(frame, fds) == 0) {
                    raw.fd().awaitWritable(1000);
                }
            }
            GoAway goAway = RawFrames.readGoAway(raw);
            assertEquals(GoAwayReason.FD_MISMATCH, goAway.getReason());
            assertTrue(goAway.getMessage().contains("400 fds"), goAway.getMessage());
        } finally {
            assertGoodClientStillServed();
        }
    }

    @Test
    void garbageIsRefused() throws Exception {
        GoAway goAway = attack(b -> {
            for (int i = 0; i < 4096; i++) {
                b.putByte(i, (byte) (i * 31 + 7));
            }
        }, 4096);
        assertTrue(goAway.getReason() != GoAwayReason.NORMAL_CLOSE, goAway.toString());
    }

    @Test
    void aFragmentedMessageBeyondTheMaximumIsRefused() throws Exception {
        int frame = 60_000;
        int frames = (16 << 20) / (frame - 24) + 2;
        GoAway goAway = attack(b -> {
            for (int i = 0; i < frames; i++) {
                FrameHeader.write(b, i * frame, frame, FrameType.NOTIFY, FrameHeader.FLAG_MORE_FRAGMENTS, 5, 2, 1, 0);
            }
        }, frames * frame);
        assertEquals(GoAwayReason.MESSAGE_TOO_LARGE, goAway.getReason());
    }

    /**
     * A peer that starts fragmented messages carrying fds and never finishes them once pinned up to 1024 x 253 of
     * the server's fds; the unfinished messages together may now hold 1024, and every fd is closed at the end.
     */
    @Test
    void fdsHeldByUnfinishedMessagesAreBounded() throws Exception {
        try (NativeSocket raw = NativeSocket.connect(server.endpoint().socketAddress(), 5000);
                FileDescriptor devNull = FileDescriptor.openRead(Path.of("/dev/null"))) {
            FileDescriptor[] fds = new FileDescriptor[200];
            java.util.Arrays.fill(fds, devNull);
            ByteBuffer frame = ByteBuffer.allocateDirect(24 + 8);
            GoAway goAway = null;
            for (int message = 1; message <= 6; message++) {
                // The first fragment of a NOTIFY with 200 fds, never followed by the rest.
                FrameHeader.write(new UnsafeBuffer(frame), 0, 32, FrameType.NOTIFY, FrameHeader.FLAG_MORE_FRAGMENTS,
                        message, 2, 1, 200);
                frame.clear();
                try {
                    while (raw.send(frame, fds) == 0) {
                        raw.fd().awaitWritable(1000);
                    }
                } catch (dev.capwire.bindings.NativeIoException.PeerGoneException closed) {
                    break; // the server has had enough already
                }
            }
            goAway = RawFrames.readGoAway(raw);
            assertEquals(GoAwayReason.PROTOCOL_ERROR, goAway.getReason(), goAway.toString());
            assertTrue(goAway.getMessage().contains("would hold more than 1024 fds"), goAway.getMessage());
        } finally {
            assertGoodClientStillServed();
        }
    }

    /** Rules the protocol gives senders, which the receiver now enforces (docs/wire-protocol.md). */
    @Test
    void aCancelWithAPayloadIsRefused() throws Exception {
        GoAway goAway = attack(b -> FrameHeader.write(b, 0, 24 + 4, FrameType.CANCEL, 0, 9, 0, 0, 0), 24 + 4);
        assertEquals(GoAwayReason.PROTOCOL_ERROR, goAway.getReason());
        assertTrue(goAway.getMessage().contains("CANCEL with a payload of 4 bytes"), goAway.getMessage());
    }

    @Test
    void aRequestWithCorrelationIdZeroIsRefused() throws Exception {
        GoAway goAway = attack(b -> FrameHeader.write(b, 0, 24 + 3, FrameType.REQUEST, 0, 0, 2, 1, 0), 24 + 3);
        assertEquals(GoAwayReason.PROTOCOL_ERROR, goAway.getReason());
        assertTrue(goAway.getMessage().contains("REQUEST with correlation id 0"), goAway.getMessage());
    }

    @Test
    void aFragmentWithCorrelationIdZeroIsRefused() throws Exception {
        GoAway goAway = attack(b -> FrameHeader.write(b, 0, 24 + 8, FrameType.NOTIFY, FrameHeader.FLAG_MORE_FRAGMENTS,
                0, 2, 1, 0), 24 + 8);
        assertEquals(GoAwayReason.PROTOCOL_ERROR, goAway.getReason());
        assertTrue(goAway.getMessage().contains("fragmented NOTIFY frame with correlation id 0"), goAway.getMessage());
    }

    /** A GOAWAY names the highest request the sender handed to its listener, and why the sender closes. */
    @Test
    void theGoAwayOfAStoppingServerNamesTheLastRequestItProcessed() throws Exception {
        try (NativeSocket raw = NativeSocket.connect(server.endpoint().socketAddress(), 5000)) {
            UnsafeBuffer requests = new UnsafeBuffer(ByteBuffer.allocateDirect(3 * 27));
            for (int i = 0; i < 3; i++) {
                FrameHeader.write(requests, i * 27, 27, FrameType.REQUEST, 0, 40 + i, 2, 1, 0);
            }
            RawFrames.writeFully(raw, requests.byteBuffer().duplicate().clear());
            ByteBuffer replies = ByteBuffer.allocateDirect(3 * 27); // the three echoes: the requests were handled
            while (replies.hasRemaining()) {
                if (raw.read(replies) == 0) {
                    raw.fd().awaitReadable(1000);
                }
            }
            transport.close();
            GoAway goAway = RawFrames.readGoAway(raw);
            assertEquals(GoAwayReason.SHUTTING_DOWN, goAway.getReason(), goAway.toString());
            assertEquals(42, goAway.getLastCorrelationId(), goAway.toString());
        }
    }
}
