package dev.capwire.transport;

import dev.capwire.wire.FrameHeader;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.ControlledMessageHandler;
import org.agrona.concurrent.MessageHandler;
import org.agrona.concurrent.ringbuffer.ManyToOneRingBuffer;

/**
 * Application threads' way into one connection's outbound path: they claim space in a {@link ManyToOneRingBuffer}
 * and write each frame straight into it, lock-free, and a full ring is their backpressure. Loop work never comes
 * here (it stages, see {@link OutboundPath}), so each sender's frames keep their order.
 *
 * <p>The ring is taken on the first send from another thread, so a connection only its loop sends on never pays
 * for it, from the loop's {@link RingPool}, to which it goes back when the connection closes: every claim checks
 * that the ring is still this connection's (see the pool for why that makes reuse safe).
 *
 * <p>Every commit makes sure the loop will drain the ring ({@link #scheduleFlushIfIdle}); the loop drains it into
 * staging from {@link OutboundPath#writeOut}. The fields producers write (the lease, the flush flag) live here,
 * apart from the loop's own state, so a producer's CAS does not take the loop's cache line away from it.
 */
final class OutboundRing {
    static final int MSG_FRAME = 1;
    static final int MSG_FRAME_WITH_FDS = 2;
    /**
     * A batch of whole frames (no fds) written in place by a {@link NotifyBatch}: an int count of the bytes used,
     * then the frames. The record's length is fixed when it is claimed, before the writer knows how much it
     * will use, so the count says where the frames end.
     */
    static final int MSG_BATCH = 3;
    /** The count at the start of a batch record. */
    static final int BATCH_HEADER_LENGTH = Integer.BYTES;
    private static final VarHandle FLUSH_SCHEDULED;
    private static final VarHandle RING;

    static {
        try {
            FLUSH_SCHEDULED = MethodHandles.lookup().findVarHandle(OutboundRing.class, "flushScheduled", int.class);
            RING = MethodHandles.lookup().findVarHandle(OutboundRing.class, "ring", RingPool.Lease.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final ConnectionChannel channel; // how the loop knows this connection
    private final EventLoop loop;
    private final int maxRecordLength;
    private volatile RingPool.Lease ring; // null until the first send from a thread other than the loop
    @SuppressWarnings("unused") // accessed through FLUSH_SCHEDULED
    private volatile int flushScheduled;
    private boolean retired; // loop only: the ring went back to the loop's pool, it may be another connection's now

    OutboundRing(ConnectionChannel channel, EventLoop loop, OutboundLimits limits) {
        this.channel = channel;
        this.loop = loop;
        this.maxRecordLength = limits.maxRecordLength();
    }

    // ---------------------------------------------------------------------------------------------------
    // Producers (any thread but the loop)
    // ---------------------------------------------------------------------------------------------------

    /** One frame (plus its fd numbers after it) into the ring; false when there is no room. */
    boolean offer(byte type, long correlationId, int capId, int methodId, int flags,
            DirectBuffer payload, int offset, int length, long[] fds, int fdCount) {
        int frameLength = FrameHeader.HEADER_LENGTH + length;
        int recordLength = frameLength + Handles.bytes(fdCount);
        if (recordLength > maxRecordLength) {
            throw new IllegalArgumentException("a frame of " + frameLength + " bytes does not fit the ring's largest "
                    + "record (" + maxRecordLength + " bytes)");
        }
        RingPool.Lease lease = lease();
        if (lease == RingPool.NONE_AFTER_CLOSE) {
            return false;
        }
        ManyToOneRingBuffer ring = lease.ring;
        int index = ring.tryClaim(fdCount == 0 ? MSG_FRAME : MSG_FRAME_WITH_FDS, recordLength);
        if (index <= 0) {
            scheduleFlushIfIdle(); // full: make sure the loop drains it, even of padding no commit announced
            return false;
        }
        if (lease.owner != this) {
            abort(lease, index); // the connection closed and its ring moved on (RingPool, rule 1)
            return false;
        }
        try {
            MutableDirectBuffer buffer = ring.buffer();
            FrameHeader.write(buffer, index, frameLength, type, flags, correlationId, capId, methodId, fdCount);
            if (length > 0) {
                buffer.putBytes(index + FrameHeader.HEADER_LENGTH, payload, offset, length);
            }
            Handles.put(buffer, index + frameLength, fds, fdCount);
        } catch (RuntimeException e) {
            // A payload shorter than the length it names, say. The loop reads no further than a claim neither
            // committed nor aborted: left open, it would hold back every frame queued behind it, for good.
            abort(lease, index);
            throw e;
        }
        ring.commit(index);
        scheduleFlushIfIdle();
        lease.drainIfAbandoned(); // after the fence of scheduleFlushIfIdle
        return true;
    }

    /** The most frame bytes one batch may hold: a ring record less the batch's count. */
    int maxBatchBytes() {
        return maxRecordLength - BATCH_HEADER_LENGTH;
    }

    /**
     * Claims a ring record for up to {@code bytes} of frames, to be written in place. Returns the index in
     * {@link #buffer()} where the frames go, or -1 when the ring has no room now.
     */
    int claimBatch(int bytes) {
        if (bytes > maxBatchBytes()) {
            throw new IllegalArgumentException("a batch of " + bytes + " bytes exceeds the ring's largest record ("
                    + maxBatchBytes() + " bytes of frames)");
        }
        RingPool.Lease lease = lease();
        if (lease == RingPool.NONE_AFTER_CLOSE) {
            return -1;
        }
        int index = lease.ring.tryClaim(MSG_BATCH, BATCH_HEADER_LENGTH + bytes);
        if (index <= 0) {
            scheduleFlushIfIdle(); // full: make sure the loop drains it, even of padding no commit announced
            return -1;
        }
        if (lease.owner != this) {
            abort(lease, index); // the connection closed and its ring moved on (RingPool, rule 1)
            return -1;
        }
        return index + BATCH_HEADER_LENGTH;
    }

    /** The ring's memory, where a claimed batch is written. */
    MutableDirectBuffer buffer() {
        return lease().ring.buffer();
    }

    /**
     * Publishes a claimed batch whose first {@code used} bytes hold whole frames: one commit and one fence for
     * all of them.
     */
    void commitBatch(int framesIndex, int used) {
        int index = framesIndex - BATCH_HEADER_LENGTH;
        RingPool.Lease lease = ring;
        lease.ring.buffer().putInt(index, used);
        lease.ring.commit(index);
        scheduleFlushIfIdle();
        lease.drainIfAbandoned(); // after the fence of scheduleFlushIfIdle
    }

    /** Gives a claimed batch back unsent: the ring skips it. */
    void abortBatch(int framesIndex) {
        abort(ring, framesIndex - BATCH_HEADER_LENGTH);
    }

    /**
     * Gives a claim back. It may be what held up a ring its loop has let go of, and the frames behind it then
     * have nobody else to drop them (and close their fds).
     */
    private static void abort(RingPool.Lease lease, int index) {
        lease.ring.abort(index);
        VarHandle.fullFence(); // see RingPool.Lease#drainIfAbandoned
        lease.drainIfAbandoned();
    }

    /** Whether the ring exists yet (for tests: a connection only its loop writes to never needs one). */
    boolean isAllocated() {
        RingPool.Lease lease = ring;
        return lease != null && lease != RingPool.NONE_AFTER_CLOSE;
    }

    /** The ring, taken from the loop's pool by whichever thread first needs it. */
    private RingPool.Lease lease() {
        RingPool.Lease existing = ring;
        if (existing != null) {
            return existing;
        }
        RingPool.Lease taken = loop.rings().take(this);
        if (RING.compareAndSet(this, null, taken)) {
            return taken;
        }
        loop.rings().giveBackUnused(taken);
        return (RingPool.Lease) RING.getVolatile(this);
    }

    /**
     * Makes sure the loop will drain the ring. The fence pairs with the volatile clear in {@link #flushStarts()}:
     * either this side sees the flag cleared and schedules, or the loop's drain sees the frame just committed.
     * Without it both could read stale values (a store then a load, on each side) and the frame would sit in
     * the ring until some later send.
     */
    private void scheduleFlushIfIdle() {
        VarHandle.fullFence();
        if ((int) FLUSH_SCHEDULED.getOpaque(this) == 0 && FLUSH_SCHEDULED.compareAndSet(this, 0, 1)) {
            loop.scheduleFlush(channel);
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // The consumer (loop only)
    // ---------------------------------------------------------------------------------------------------

    /** The flush producers scheduled begins: cleared first, so a frame written from now on schedules again. */
    void flushStarts() {
        FLUSH_SCHEDULED.setVolatile(this, 0);
    }

    /**
     * Hands the waiting records to {@code handler} until it stops; true when the consumer position moved.
     * Progress is the position, not the record count: a read that only steps over the padding at the ring's end
     * returns 0 records, and stopping there would strand every frame written after the wrap until some later send.
     */
    boolean drainInto(ControlledMessageHandler handler) {
        RingPool.Lease lease = ring;
        if (lease == null || lease == RingPool.NONE_AFTER_CLOSE) {
            return false;
        }
        ManyToOneRingBuffer queued = lease.ring;
        long consumedBefore = queued.consumerPosition();
        queued.controlledRead(handler);
        return queued.consumerPosition() != consumedBefore;
    }

    /** Drops every frame waiting (the connection is closed), closing the fds they would have carried. */
    void discard() {
        RingPool.Lease lease = ring;
        if (lease == null || retired) {
            return; // a retired ring is drained by its pool, or is another connection's now
        }
        lease.ring.read(DISCARD, Integer.MAX_VALUE);
    }

    /**
     * At close: what is queued is dropped, and the ring goes back to the loop's pool once it has settled. A
     * connection that never took a ring is marked so that no sender takes one now: the loop may be stopping, and
     * a ring taken after its close would hold the fds sent into it for good.
     */
    void retire() {
        discard();
        if (retired) {
            return;
        }
        retired = true;
        if (!RING.compareAndSet(this, null, RingPool.NONE_AFTER_CLOSE)) {
            loop.rings().retire(ring, DISCARD);
        }
    }

    /** Drops a queued frame, closing the fds it would have carried. */
    private static final MessageHandler DISCARD = (msgTypeId, buffer, index, length) -> {
        if (msgTypeId == MSG_FRAME_WITH_FDS) {
            int frameLength = FrameHeader.frameLength(buffer, index);
            Handles.closeAll(buffer, index + frameLength, Handles.countAfter(frameLength, length));
        }
    };
}
