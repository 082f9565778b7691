package dev.capwire.transport;

import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Writes one-way NOTIFY frames straight into a connection's outbound ring, many to a claim: {@link #begin}
 * claims room for up to a number of bytes, {@link #claim} lays down each frame's header and says where its
 * payload goes in {@link #buffer()} (or {@link #add} copies one in), and {@link #commit} publishes every frame
 * of the batch at once. Where {@link Connection#offerNotify} pays a claim, a copy, a commit and a fence per
 * frame, a batch pays them once per batch, and a frame written in place is not copied on the way in at all.
 *
 * <pre>{@code
 * NotifyBatch batch = connection.notifyBatch();        // once per sending thread; reused for every batch
 * if (batch.begin(batch.maxBytes())) {                  // false: backpressure, nothing claimed
 *     int at;
 *     while ((at = batch.claim(capId, methodId, 64)) >= 0) {
 *         batch.buffer().putLong(at, sequence++);       // the payload, written where it will be sent from
 *     }
 *     batch.commit();
 * }
 * }</pre>
 *
 * <p>One batch object belongs to one thread at a time (it holds that thread's claim); any number of threads may
 * each use their own on the same connection. Until {@link #commit} or {@link #abort}, the claimed ring space is
 * held, so the other senders on the connection wait behind it: begin, fill and commit without blocking in
 * between. On the connection's own loop thread (a listener, or an invoker-mode application) the frames are
 * written to a buffer of the batch's own and copied into the loop's staging at commit, since loop work never
 * goes through the ring. Reusing one batch allocates nothing.
 */
public final class NotifyBatch {
    private final OutboundPath outbound; // the loop thread's batches, staged
    private final OutboundRing ring; // every other thread's, written in place
    private final OutboundLimits limits;
    private UnsafeBuffer loopScratch; // the loop thread's frames until commit; made on first use there
    private MutableDirectBuffer buffer; // where the open batch's frames go
    private int start = -1; // index of the batch's first byte in buffer; -1 while no batch is open
    private int limit;
    private int position;
    private int frames;
    private boolean onLoop;

    NotifyBatch(OutboundPath outbound, OutboundRing ring, OutboundLimits limits) {
        this.outbound = outbound;
        this.ring = ring;
        this.limits = limits;
    }

    /** The most bytes one batch may claim: the ring's largest record, less the batch's own count. */
    public int maxBytes() {
        return ring.maxBatchBytes();
    }

    /**
     * Claims room for up to {@code bytes} of frames (each is its payload plus a {@value FrameHeader#HEADER_LENGTH}
     * byte header). Returns false when the ring has no such room now, or the connection no longer takes sends:
     * backpressure, as {@link Connection#offerNotify} reports it; nothing is claimed then.
     *
     * @throws IllegalStateException when a batch is already open on this object
     * @throws IllegalArgumentException when {@code bytes} exceeds {@link #maxBytes()}
     */
    public boolean begin(int bytes) {
        if (start >= 0) {
            throw new IllegalStateException("a batch is already open: commit or abort it first");
        }
        if (bytes < FrameHeader.HEADER_LENGTH || bytes > maxBytes()) {
            throw new IllegalArgumentException("a batch must claim between " + FrameHeader.HEADER_LENGTH + " and "
                    + maxBytes() + " bytes: " + bytes);
        }
        if (!outbound.state().acceptsSends()) {
            return false;
        }
        onLoop = outbound.inLoop();
        int index;
        if (onLoop) {
            if (outbound.overHighWater()) {
                return false; // the peer is behind: loop work refuses as offerNotify does there
            }
            if (loopScratch == null || loopScratch.capacity() < bytes) {
                loopScratch = new UnsafeBuffer(new byte[maxBytes()]);
            }
            buffer = loopScratch;
            index = 0;
        } else {
            index = ring.claimBatch(bytes);
            if (index < 0) {
                return false;
            }
            buffer = ring.buffer();
        }
        start = index;
        position = index;
        limit = index + bytes;
        frames = 0;
        return true;
    }

    /**
     * As {@link #begin(int)}, waiting up to {@code timeoutMs} for the room: a few spins and yields, then parking in
     * growing steps up to a millisecond, as {@link Connection#sendNotify} waits, so a sender held up by a slow
     * reader gives its core to the threads that drain the ring. On the connection's loop thread it does not wait
     * (loop work never waits for a socket). False when the time passed or the connection no longer takes sends.
     */
    public boolean begin(int bytes, long timeoutMs) {
        if (begin(bytes)) {
            return true;
        }
        if (onLoop || !outbound.state().acceptsSends()) {
            return false;
        }
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        for (int attempt = 0; System.nanoTime() - deadline < 0; attempt++) {
            MessageSender.pause(attempt);
            if (begin(bytes)) {
                return true;
            }
            if (!outbound.state().acceptsSends()) {
                return false;
            }
        }
        return false;
    }

    /**
     * Appends a NOTIFY header for a payload of {@code length} bytes and returns the index in {@link #buffer()}
     * where the caller writes that payload, before {@link #commit}; -1 when the frame does not fit what
     * {@link #begin} claimed (the batch stays open: commit it and begin another).
     *
     * @throws IllegalArgumentException when the payload exceeds one frame (see {@link Connection#offerNotify})
     */
    public int claim(int capId, int methodId, int length) {
        requireOpen();
        limits.checkSingleFrame(length, 0);
        int frameLength = FrameHeader.HEADER_LENGTH + length;
        if (frameLength > limit - position) {
            return -1;
        }
        FrameHeader.write(buffer, position, frameLength, FrameType.NOTIFY, 0, 0, capId, methodId, 0);
        int payloadIndex = position + FrameHeader.HEADER_LENGTH;
        position += frameLength;
        frames++;
        return payloadIndex;
    }

    /** Appends a NOTIFY with a copy of the payload; false when it does not fit what {@link #begin} claimed. */
    public boolean add(int capId, int methodId, DirectBuffer payload, int offset, int length) {
        int at = claim(capId, methodId, length);
        if (at < 0) {
            return false;
        }
        if (length > 0) {
            buffer.putBytes(at, payload, offset, length);
        }
        return true;
    }

    /** Where the open batch's frames are written; valid from {@link #begin} until {@link #commit}. */
    public MutableDirectBuffer buffer() {
        requireOpen();
        return buffer;
    }

    /** Frames claimed in the open batch. */
    public int frames() {
        return frames;
    }

    /** Whether a batch is open: begun, and neither committed nor aborted yet. */
    public boolean isOpen() {
        return start >= 0;
    }

    /** Bytes still free in the open batch. */
    public int remaining() {
        return start < 0 ? 0 : limit - position;
    }

    /** Sends every frame claimed since {@link #begin}, in order and after anything this thread sent before. */
    public void commit() {
        requireOpen();
        int used = position - start;
        int at = start;
        start = -1;
        if (onLoop) {
            outbound.stageBatch(loopScratch, at, used);
        } else {
            ring.commitBatch(at, used);
        }
    }

    /** Drops the open batch: none of its frames is sent, and its ring space is freed. */
    public void abort() {
        requireOpen();
        int at = start;
        start = -1;
        if (!onLoop) {
            ring.abortBatch(at);
        }
    }

    private void requireOpen() {
        if (start < 0) {
            throw new IllegalStateException("no batch is open: begin one first");
        }
    }
}
