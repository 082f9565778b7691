package dev.capwire.bench.peers;

import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.ReplyHandler;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.StatusCode;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Capwire's request/reply path: {@code Connection.request} with one {@link ReplyHandler} for every request,
 * the server answering each REQUEST with its payload on its loop. Correlation, deadlines and the in-flight
 * limit included, nothing allocated per request; what a pipelined caller pays over the raw NOTIFY echo.
 *
 * <p>With {@code invoker}, the transport has no loop thread: the benchmark thread drives it
 * ({@code Transport.poll()}) whenever it waits, as the raw JDK echo's client does its own channel, so the two
 * use the same number of threads.
 */
public final class CapwireRequestPeer implements EchoPeer, ReplyHandler {
    private static final VarHandle RECEIVED;
    private static final long TIMEOUT_MS = 30_000;

    static {
        try {
            RECEIVED = MethodHandles.lookup().findVarHandle(CapwireRequestPeer.class, "received", long.class);
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
    private volatile StatusException failure;

    public CapwireRequestPeer(Path socket, boolean invoker, int payloadBytes) throws Exception {
        this.invoker = invoker;
        transport = Transport.create(TransportOptions.builder().eventLoops(invoker ? 0 : 1).build());
        connection = transport.connect(Endpoint.unix(socket), (from, frame) -> { });
        payload = new UnsafeBuffer(new byte[payloadBytes]);
    }

    @Override
    public void onReply(long correlationId, InboundFrame reply) {
        RECEIVED.setRelease(this, (long) RECEIVED.getOpaque(this) + 1); // the loop is the only writer
    }

    @Override
    public void onFailure(long correlationId, StatusException why) {
        failure = why;
        RECEIVED.setRelease(this, (long) RECEIVED.getOpaque(this) + 1);
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

    private void idle() {
        if (invoker) {
            transport.poll();
        } else {
            Thread.yield();
        }
    }

    @Override
    public void flush() {
        if (invoker) {
            transport.poll();
        }
    }

    @Override
    public boolean send() {
        StatusException failed = failure;
        if (failed != null) {
            throw new IllegalStateException("a request failed", failed);
        }
        try {
            connection.request(Frames.CAP_ID, Frames.METHOD_ID, payload, 0, payload.capacity(), TIMEOUT_MS,
                    this);
            return true;
        } catch (StatusException e) {
            if (e.code() == StatusCode.RESOURCE_EXHAUSTED) {
                return false; // the in-flight limit or a full ring: the caller waits and retries
            }
            throw e;
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
