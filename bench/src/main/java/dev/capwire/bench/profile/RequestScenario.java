package dev.capwire.bench.profile;

import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.ReplyHandler;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Recorder;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Request/reply through {@link Connection#request} against a server that answers every request with its payload:
 * one call at a time per thread ({@code roundtrip}, {@code Connection.call}), or up to {@code inflight}
 * outstanding per thread ({@code pipelined}, one {@link ReplyHandler} per thread; each payload carries its send
 * time, which the echo brings back). All threads share one connection. In invoker mode ({@code --loops=0}) the waiting threads
 * drive the transport themselves.
 */
final class RequestScenario implements Scenario {
    private static final int CAP_ID = 2;
    private static final int METHOD_ID = 1;
    private static final long TIMEOUT_MS = 30_000;

    private final PeerProcess server;
    private final Transport transport;
    private final Connection connection;
    private final int payloadBytes;
    private final int inflight; // 1: sequential round trips
    private final boolean invoker;

    RequestScenario(Settings settings, List<String> serverJvmOptions, boolean pipelined) throws Exception {
        server = PeerProcess.start("capwire", settings.idleStrategy(), serverJvmOptions);
        transport = Transport.create(TransportOptions.defaults());
        invoker = transport.options().eventLoops() == 0;
        connection = transport.connect(Endpoint.unix(server.socket()), (c, frame) -> { });
        payloadBytes = settings.payloadBytes();
        inflight = pipelined ? settings.inflight() : 1;
    }

    @Override
    public void run(int thread, long deadlineNanos, Recorder latencies, LongAdder done) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[payloadBytes]);
        if (inflight == 1) {
            while (System.nanoTime() < deadlineNanos) {
                long start = System.nanoTime();
                connection.call(CAP_ID, METHOD_ID, payload, 0, payloadBytes, TIMEOUT_MS);
                latencies.recordValue(System.nanoTime() - start);
                done.increment();
            }
            return;
        }
        Replies replies = new Replies(latencies, done);
        while (System.nanoTime() < deadlineNanos) {
            while (replies.outstanding.get() >= inflight) {
                idle();
            }
            replies.outstanding.incrementAndGet();
            payload.putLong(0, System.nanoTime()); // echoed back: the reply says when its request left
            try {
                connection.request(CAP_ID, METHOD_ID, payload, 0, payloadBytes, TIMEOUT_MS, replies);
            } catch (StatusException e) {
                replies.outstanding.decrementAndGet(); // refused (a full ring): try again
                idle();
            }
        }
        while (replies.outstanding.get() > 0) {
            idle();
        }
    }

    /** One thread's requests in flight: one handler for all of them, so the scenario allocates nothing per call. */
    private static final class Replies implements ReplyHandler {
        final AtomicInteger outstanding = new AtomicInteger();
        private final Recorder latencies;
        private final LongAdder done;

        Replies(Recorder latencies, LongAdder done) {
            this.latencies = latencies;
            this.done = done;
        }

        @Override
        public void onReply(long correlationId, InboundFrame reply) {
            latencies.recordValue(System.nanoTime() - reply.buffer().getLong(reply.payloadOffset()));
            done.increment();
            outstanding.decrementAndGet();
        }

        @Override
        public void onFailure(long correlationId, StatusException failure) {
            outstanding.decrementAndGet();
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
    public PeerProcess server() {
        return server;
    }

    @Override
    public void close() throws Exception {
        transport.close();
        server.close();
    }
}
