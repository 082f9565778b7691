package dev.capwire.bench.peers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

/**
 * The JDK batch writer: frames are copied one after another into a 64 KiB direct buffer, which goes out with one
 * blocking {@link SocketChannel#write} whenever the next frame would not fit. What a careful application with
 * the JDK alone would write for a one-way stream; the baseline for Capwire's. A frame larger than the batch (a
 * bulk message) is written straight from its own buffer with one blocking write, since the batch would only copy it.
 */
public final class JdkStreamPeer implements StreamPeer {
    /** The batch: the size the baseline names. */
    public static final int BATCH_BYTES = 64 * 1024;

    private final SocketChannel channel;
    private final ByteBuffer frame;
    private final ByteBuffer sync;
    private final ByteBuffer batch = ByteBuffer.allocateDirect(BATCH_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer echo;

    public JdkStreamPeer(Path socket, int payloadBytes) throws IOException {
        channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        frame = Frames.notify(payloadBytes);
        sync = Frames.notify(Math.min(payloadBytes, 64), Frames.SYNC_METHOD_ID); // fits the batch
        echo = ByteBuffer.allocateDirect(sync.capacity());
    }

    @Override
    public void send(int frames) {
        int length = frame.capacity();
        if (length > BATCH_BYTES) {
            for (int i = 0; i < frames; i++) {
                write(frame.clear());
            }
            return;
        }
        for (int i = 0; i < frames; i++) {
            if (batch.remaining() < length) {
                writeBatch();
            }
            batch.put(frame.clear());
        }
    }

    private void writeBatch() {
        write(batch.flip());
        batch.clear();
    }

    private void write(ByteBuffer bytes) {
        try {
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void sync() {
        if (batch.remaining() < sync.capacity()) {
            writeBatch();
        }
        batch.put(sync.clear());
        writeBatch();
        try {
            if (!PeerServer.readFully(channel, echo.clear())) {
                throw new IllegalStateException("the JDK sink closed the connection");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
