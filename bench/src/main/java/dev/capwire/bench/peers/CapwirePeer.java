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

/** Capwire's raw frame path: offerNotify out, a listener counting echoes in; nothing allocated per frame. */
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
    private final Connection connection;
    private final UnsafeBuffer payload;
    @SuppressWarnings("unused") // through RECEIVED
    private volatile long received;

    public CapwirePeer(Path socket, String idleStrategy, int payloadBytes) throws Exception {
        transport = Transport.create(TransportOptions.builder().idleStrategy(idleStrategy).build());
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
            Thread.onSpinWait();
        }
        while ((long) RECEIVED.getAcquire(this) < target) {
            Thread.yield(); // two cores, three busy threads: let the event loops run
        }
    }

    @Override
    public boolean send() {
        return connection.offerNotify(Frames.CAP_ID, Frames.METHOD_ID, payload, 0, payload.capacity());
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
