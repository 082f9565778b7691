package dev.capwire.bench.peers;

import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
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
public final class CapwirePeer implements EchoPeer, FrameListener {
    private static final VarHandle RECEIVED;

    static {
        try {
            RECEIVED = MethodHandles.lookup().findVarHandle(CapwirePeer.class, "received", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Transport transport;
    private final boolean invoker;
    private final Connection connection;
    private final UnsafeBuffer payload;
    @SuppressWarnings("unused") // through RECEIVED
    private volatile long received;

    public CapwirePeer(Path socket, String idleStrategy, int payloadBytes) throws Exception {
        invoker = "spin".equals(idleStrategy);
        transport = Transport.create(TransportOptions.builder().idleStrategy(idleStrategy)
                .eventLoops(invoker ? 0 : 1).build());
        connection = transport.connect(Endpoint.unix(socket), this);
        payload = new UnsafeBuffer(Frames.notify(payloadBytes), dev.capwire.wire.FrameHeader.HEADER_LENGTH,
                payloadBytes);
    }

    @Override
    public void onFrame(Connection from, InboundFrame frame) {
        RECEIVED.setRelease(this, (long) RECEIVED.getOpaque(this) + 1); // the loop is the only writer
    }

    @Override
    public void roundTrip() {
        long target = (long) RECEIVED.getAcquire(this) + 1;
        while (!send()) {
            idle();
        }
        while ((long) RECEIVED.getAcquire(this) < target) {
            idle();
        }
    }

    /** Waiting: drive the transport in invoker mode, else let the loop thread have the core. */
    private void idle() {
        if (invoker) {
            transport.poll();
        } else {
            Thread.yield();
        }
    }

    @Override
    public boolean send() {
        return connection.offerNotify(Frames.CAP_ID, Frames.METHOD_ID, payload, 0, payload.capacity());
    }

    @Override
    public void flush() {
        if (invoker) {
            transport.poll();
        }
    }

    @Override
    public long received() {
        return (long) RECEIVED.getAcquire(this);
    }

    @Override
    public void close() {
        transport.close();
    }
}
