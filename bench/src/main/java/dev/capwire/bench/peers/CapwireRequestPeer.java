package dev.capwire.bench.peers;

import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.ReplyHandler;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.StatusCode;
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
public final class CapwireRequestPeer extends CapwireClientPeer implements ReplyHandler {
    private static final long TIMEOUT_MS = 30_000;

    private final Connection connection;
    private final UnsafeBuffer payload;
    private volatile StatusException failure;

    public CapwireRequestPeer(Path socket, boolean invoker, int payloadBytes) throws Exception {
        super(TransportOptions.builder(), invoker);
        connection = transport.connect(Endpoint.unix(socket), (from, frame) -> { });
        payload = new UnsafeBuffer(new byte[payloadBytes]);
    }

    @Override
    public void onReply(long correlationId, InboundFrame reply) {
        countReceived();
    }

    @Override
    public void onFailure(long correlationId, StatusException why) {
        failure = why;
        countReceived();
    }

    @Override
    public boolean send() {
        StatusException failed = failure;
        if (failed != null) {
            throw new IllegalStateException("a request failed", failed);
        }
        try {
            connection.request(Frames.CAP_ID, Frames.METHOD_ID, payload, 0, payload.capacity(), TIMEOUT_MS, this);
            return true;
        } catch (StatusException e) {
            if (e.code() == StatusCode.RESOURCE_EXHAUSTED) {
                return false; // the in-flight limit or a full ring: the caller waits and retries
            }
            throw e;
        }
    }
}
