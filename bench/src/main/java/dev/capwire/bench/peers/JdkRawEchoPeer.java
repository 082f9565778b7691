package dev.capwire.bench.peers;

import dev.capwire.wire.FrameHeader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

/**
 * The raw framed JDK echo's client, for pipelined runs: one non-blocking {@link SocketChannel} driven by the
 * benchmark thread alone. Frames are copied into an outgoing buffer and written when it fills or when the
 * sender waits; every read is decoded frame by frame (each header walked) to count the echoes. No correlation,
 * no futures: what the same socket carries with plain Java, the ceiling for a request/reply path.
 */
public final class JdkRawEchoPeer implements EchoPeer {
    private static final int BUFFER_BYTES = 64 * 1024;

    private final SocketChannel channel;
    private final ByteBuffer frame;
    private final ByteBuffer out = ByteBuffer.allocateDirect(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer in = ByteBuffer.allocateDirect(4 * BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private long received;

    public JdkRawEchoPeer(Path socket, int payloadBytes) throws IOException {
        channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        channel.configureBlocking(false);
        frame = Frames.notify(payloadBytes);
    }

    @Override
    public void roundTrip() {
        long target = received + 1;
        while (!send()) {
            flush();
        }
        while (received < target) {
            flush();
        }
    }

    @Override
    public boolean send() {
        if (out.remaining() < frame.capacity()) {
            flush();
            if (out.remaining() < frame.capacity()) {
                return false; // the socket is full: backpressure
            }
        }
        out.put(frame.clear());
        return true;
    }

    /** Writes what the socket takes now and decodes whatever came back. */
    @Override
    public void flush() {
        try {
            if (out.position() > 0) {
                out.flip();
                channel.write(out);
                out.compact();
            }
            if (channel.read(in) < 0) {
                throw new IllegalStateException("the JDK echo server closed the connection");
            }
            int end = in.position();
            int at = 0;
            while (end - at >= FrameHeader.HEADER_LENGTH && end - at >= in.getInt(at)) {
                at += in.getInt(at);
                received++;
            }
            in.limit(end).position(at);
            in.compact();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public long received() {
        return received;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
