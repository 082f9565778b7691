package dev.capwire.bench.peers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

/** The JDK's blocking {@link SocketChannel} on a {@link UnixDomainSocketAddress}: write a frame, read it back. */
public final class JdkPeer implements EchoPeer {
    private final SocketChannel channel;
    private final ByteBuffer frame;
    private final ByteBuffer reply;
    private long received;

    public JdkPeer(Path socket, int payloadBytes) throws IOException {
        channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        frame = Frames.notify(payloadBytes);
        reply = ByteBuffer.allocateDirect(frame.capacity());
    }

    @Override
    public void roundTrip() {
        try {
            frame.clear();
            while (frame.hasRemaining()) {
                channel.write(frame);
            }
            reply.clear();
            if (!PeerServer.readFully(channel, reply)) {
                throw new IllegalStateException("the JDK echo server closed the connection");
            }
            received++;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public boolean send() {
        throw new UnsupportedOperationException("the JDK baseline is measured on round trips only");
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
