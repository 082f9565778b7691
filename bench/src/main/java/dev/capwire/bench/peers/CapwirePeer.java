package dev.capwire.bench.peers;

import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.TransportOptions;
import java.nio.file.Path;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Capwire's raw frame path: offerNotify out, a listener counting echoes in; nothing allocated per frame.
 *
 * <p>With {@code spin}, the client runs in invoker mode: the benchmark thread drives the transport itself
 * ({@code Transport.poll()}) while it waits, as a latency-critical application that already owns a spinning
 * thread would. On two cores this leaves two busy threads (this one and the server's loop), the same as the
 * C busy-poll probe; a spinning loop thread as well would be a third, fighting both for a core.
 */
public final class CapwirePeer extends CapwireClientPeer implements FrameListener {
    private final Connection connection;
    private final UnsafeBuffer payload;

    public CapwirePeer(Path socket, String idleStrategy, int payloadBytes) throws Exception {
        super(TransportOptions.builder().idleStrategy(idleStrategy), "spin".equals(idleStrategy));
        connection = transport.connect(Endpoint.unix(socket), this);
        payload = new UnsafeBuffer(Frames.notify(payloadBytes), dev.capwire.wire.FrameHeader.HEADER_LENGTH,
                payloadBytes);
    }

    @Override
    public void onFrame(Connection from, InboundFrame frame) {
        countReceived();
    }

    @Override
    public boolean send() {
        return connection.offerNotify(Frames.CAP_ID, Frames.METHOD_ID, payload, 0, payload.capacity());
    }
}
