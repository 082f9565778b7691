package dev.capwire.bench.peers;

import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.NotifyBatch;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameHeader;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Capwire's one-way stream from the benchmark thread, spinning while the ring pushes back: with {@link Mode#OFFER}
 * every frame is one {@link Connection#offerNotify}; with {@link Mode#BATCH} frames are added to a
 * {@link NotifyBatch} that claims the ring's largest record and is committed when full (and at each sync), as the
 * JDK batch writer writes its 64 KiB buffer when full; with {@link Mode#SEND} every message is one
 * {@link Connection#sendNotify}, which cuts one larger than a frame into fragments (the bulk benchmark's 1 MiB
 * messages). The default transport (one event loop that backs off while idle) drains the ring into the socket.
 *
 * <p>With {@code invoker}, the transport has no loop thread: the benchmark thread is the loop, so its batches
 * go straight into the connection's staging and it writes them out itself ({@code Transport.poll()}) after each
 * commit and while it waits for room, as the JDK batch writer writes its own channel: the same number of threads
 * on each side as the baseline (two), which on a two-core host decides more than any per-frame cost.
 */
public final class CapwireStreamPeer implements StreamPeer, FrameListener {
    /** How the messages go into the ring. */
    public enum Mode {
        /** {@code offerNotify} per frame. */
        OFFER,
        /** Frames added to a {@code NotifyBatch} of the ring's largest record. */
        BATCH,
        /** {@code sendNotify} per message, fragmented when larger than a frame; it waits for room as it does. */
        SEND
    }

    /** The sync frame's payload at most: it must fit one frame whatever the messages' size. */
    private static final int SYNC_PAYLOAD_MAX = 64;

    private final Transport transport;
    private final Connection connection;
    private final UnsafeBuffer payload;
    private final UnsafeBuffer syncPayload;
    private final NotifyBatch batch; // null: one offerNotify or sendNotify per frame
    private final boolean fragmenting;
    private final boolean invoker;
    private volatile long syncsEchoed;
    private long syncsSent;

    public CapwireStreamPeer(Path socket, int payloadBytes, Mode mode) throws Exception {
        this(socket, payloadBytes, mode, false);
    }

    public CapwireStreamPeer(Path socket, int payloadBytes, Mode mode, boolean invoker) throws Exception {
        if (invoker && mode != Mode.BATCH) {
            throw new IllegalArgumentException("invoker mode is measured with batches only");
        }
        this.invoker = invoker;
        transport = Transport.create(invoker ? TransportOptions.builder().eventLoops(0).build()
                : TransportOptions.defaults());
        connection = transport.connect(Endpoint.unix(socket), this);
        batch = mode == Mode.BATCH ? connection.notifyBatch() : null;
        fragmenting = mode == Mode.SEND;
        payload = new UnsafeBuffer(Frames.notify(payloadBytes), FrameHeader.HEADER_LENGTH, payloadBytes);
        syncPayload = new UnsafeBuffer(new byte[Math.min(payloadBytes, SYNC_PAYLOAD_MAX)]);
    }

    @Override
    public void onFrame(Connection from, InboundFrame frame) {
        syncsEchoed++; // the loop is the only writer; the sink echoes nothing but syncs
    }

    @Override
    public void send(int frames) {
        if (batch != null) {
            sendBatched(frames);
            return;
        }
        if (fragmenting) {
            for (int i = 0; i < frames; i++) {
                connection.sendNotify(Frames.CAP_ID, Frames.METHOD_ID, payload, 0, payload.capacity(), 10_000);
            }
            return;
        }
        for (int i = 0; i < frames; i++) {
            for (int attempt = 0; !connection.offerNotify(Frames.CAP_ID, Frames.METHOD_ID, payload, 0,
                    payload.capacity()); attempt++) {
                pause(attempt);
            }
        }
    }

    /**
     * The ring is full: spin and yield a little, then park in growing steps up to a millisecond, as
     * {@code sendNotify} and {@code NotifyBatch.begin(bytes, timeoutMs)} wait. A sender that only yielded kept a
     * core from the loop threads that drain the ring (0.5 M frames/s on two loaded cores).
     */
    public static void pause(int attempt) {
        if (attempt < 8) {
            Thread.onSpinWait();
        } else if (attempt < 16) {
            Thread.yield();
        } else {
            LockSupport.parkNanos(Math.min(1_000_000L, 1_000L << Math.min(10, attempt - 16)));
        }
    }

    private void sendBatched(int frames) {
        for (int i = 0; i < frames; i++) {
            if (!batch.isOpen()) {
                beginBatch();
            }
            if (!batch.add(Frames.CAP_ID, Frames.METHOD_ID, payload, 0, payload.capacity())) {
                commitBatch();
                beginBatch();
                batch.add(Frames.CAP_ID, Frames.METHOD_ID, payload, 0, payload.capacity());
            }
        }
    }

    private void beginBatch() {
        if (!invoker) {
            if (!batch.begin(batch.maxBytes(), 10_000)) {
                throw new IllegalStateException("the ring stayed full for 10 s: is the sink reading?");
            }
            return;
        }
        // The loop's own thread never waits inside begin: past the high-water mark it refuses, and room comes
        // only from running the loop, which writes staging into the socket.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!batch.begin(batch.maxBytes())) {
            transport.poll();
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("staging stayed over its high-water mark for 10 s: is the sink "
                        + "reading?");
            }
        }
    }

    private void commitBatch() {
        batch.commit();
        if (invoker) {
            transport.poll(); // writes the batch out: nothing else will
        }
    }

    /** Waiting for the sink: run the loop in invoker mode, else leave the core to the loop thread. */
    private void await(int attempt) {
        if (invoker) {
            transport.poll();
        } else {
            pause(attempt);
        }
    }

    @Override
    public void sync() {
        if (batch != null && batch.isOpen()) {
            commitBatch();
        }
        syncsSent++;
        for (int attempt = 0; !connection.offerNotify(Frames.CAP_ID, Frames.SYNC_METHOD_ID, syncPayload, 0,
                syncPayload.capacity()); attempt++) {
            await(attempt);
        }
        while (syncsEchoed < syncsSent) {
            if (invoker) {
                transport.poll();
            } else {
                Thread.yield();
            }
        }
    }

    @Override
    public void close() {
        transport.close();
    }
}
