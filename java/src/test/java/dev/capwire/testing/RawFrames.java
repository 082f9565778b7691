package dev.capwire.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAway;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/** A raw socket's view of a Capwire peer, for tests that send what no well-behaved peer would. */
public final class RawFrames {
    private RawFrames() {
    }

    /** Writes all of {@code bytes}, waiting for the socket as needed. */
    public static void writeFully(NativeSocket raw, ByteBuffer bytes) throws Exception {
        while (bytes.hasRemaining()) {
            if (raw.write(bytes) == 0) {
                raw.fd().awaitWritable(1000);
            }
        }
    }

    /** Reads exactly one frame (failing after 10 s) and returns its payload; its type must be {@code type}. */
    public static byte[] readFrame(NativeSocket raw, byte type) throws Exception {
        ByteBuffer header = readExactly(raw, ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH));
        UnsafeBuffer view = new UnsafeBuffer(header, 0, FrameHeader.HEADER_LENGTH);
        assertEquals(FrameType.name(type), FrameType.name(view.getByte(FrameHeader.TYPE_OFFSET)), "frame type");
        int length = view.getInt(FrameHeader.LENGTH_OFFSET, FrameHeader.ORDER);
        ByteBuffer payload = readExactly(raw, ByteBuffer.allocateDirect(length - FrameHeader.HEADER_LENGTH));
        byte[] bytes = new byte[payload.remaining()];
        payload.get(bytes);
        return bytes;
    }

    private static ByteBuffer readExactly(NativeSocket raw, ByteBuffer buffer) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (buffer.hasRemaining()) {
            assertTrue(System.nanoTime() < deadline, "no whole frame within 10 s");
            int n = raw.read(buffer);
            assertTrue(n >= 0, "the peer closed in the middle of a frame");
            if (n == 0) {
                raw.fd().awaitReadable(1000);
            }
        }
        return buffer.flip();
    }

    /**
     * Reads until the server closes (failing after 10 s) and returns every byte it sent. A reset counts as the
     * close: a server that closes with our unread bytes in its queue resets the connection after its GOAWAY.
     */
    public static byte[] readToEnd(NativeSocket raw) throws Exception {
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        ByteBuffer in = ByteBuffer.allocateDirect(4096);
        long deadline = System.nanoTime() + 10_000_000_000L;
        for (;;) {
            assertTrue(System.nanoTime() < deadline, "the server did not close the connection within 10 s");
            in.clear();
            int n;
            try {
                n = raw.read(in);
            } catch (NativeIoException.PeerGoneException reset) {
                break;
            }
            if (n < 0) {
                break;
            }
            if (n == 0) {
                raw.fd().awaitReadable(1000);
                continue;
            }
            byte[] chunk = new byte[n];
            in.flip().get(chunk);
            received.write(chunk);
        }
        return received.toByteArray();
    }

    /** Reads to the end and returns the GOAWAY that ends what the server sent. */
    public static GoAway readGoAway(NativeSocket raw) throws Exception {
        UnsafeBuffer reply = new UnsafeBuffer(readToEnd(raw));
        FrameHeader header = new FrameHeader();
        int at = 0;
        // Replies to frames the server accepted before the violation may come first.
        for (header.wrap(reply, at); at + header.frameLength() < reply.capacity(); header.wrap(reply, at)) {
            at += (int) header.frameLength();
        }
        assertEquals(FrameType.GOAWAY, header.type(), "the last word before the close is a GOAWAY");
        byte[] payload = new byte[(int) header.frameLength() - FrameHeader.HEADER_LENGTH];
        reply.getBytes(at + FrameHeader.HEADER_LENGTH, payload);
        return GoAway.parseFrom(payload);
    }
}
