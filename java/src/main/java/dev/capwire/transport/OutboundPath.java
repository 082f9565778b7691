package dev.capwire.transport;

import dev.capwire.bindings.Errno;
import dev.capwire.bindings.Native;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.ControlledMessageHandler;
import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.ringbuffer.ManyToOneRingBuffer;

/**
 * One connection's way out: the outbound ring, staging, flushing, and backpressure.
 *
 * <p>Two kinds of sender, two ways in. Application threads claim space in a {@link ManyToOneRingBuffer} and
 * write the frame straight into it, lock-free; a full ring is their backpressure. Loop work (replies from a
 * listener, control frames, an invoker-mode application) appends straight to {@link Staging} instead, which
 * never refuses a frame: the loop must never wait for a socket, or every other connection on it would wait too.
 * Each sender's frames keep their order, since each sender uses one way only. The ring is taken on the first
 * send from another thread, so a connection only its loop sends on never pays for it, from the loop's
 * {@link RingPool}, to which it goes back when the connection closes: every claim checks that the ring is still
 * this connection's (see the pool for why that makes reuse safe).
 *
 * <p>What bounds staging is the connection's backpressure, as Netty's writability and auto-read do it: when the
 * bytes staged pass the high-water mark the connection stops reading (its handlers stop producing) until they
 * drain below the low-water mark, and a socket that takes nothing for {@code sendStallTimeoutMs} ends the
 * connection. Every other connection on the loop carries on meanwhile.
 *
 * <p>Whole messages, split into fragments, come through {@link MessageSender}.
 */
final class OutboundPath {
    /** What the outbound path needs from the connection it serves, and what it tells it. */
    interface Owner {
        ConnectionState state();

        /** UNAVAILABLE naming why the connection closed. */
        StatusException unavailable();

        /** Loop: about to write; requests queued by other threads are registered first. */
        void beforeWrite();

        /** Loop: a write failed, or the peer stopped reading for too long; the connection is over. */
        void writeFailed(CloseReason reason);

        /** Loop: everything queued has been handed to the kernel. */
        void allSent();

        /** Loop: whether the poller must report writability changed. */
        void writeInterestChanged();

        /** Loop: staged bytes passed the high-water mark (stop reading) or fell below the low one (read again). */
        void backlogChanged(boolean overHighWater);
    }

    private static final int MSG_FRAME = 1;
    private static final int MSG_FRAME_WITH_FDS = 2;
    /**
     * A batch of whole frames (no fds) written in place by a {@link NotifyBatch}: an int count of the bytes used,
     * then the frames. The record's length is fixed when it is claimed, before the writer knows how much it
     * will use, so the count says where the frames end.
     */
    private static final int MSG_BATCH = 3;
    /** The count at the start of a batch record. */
    static final int BATCH_HEADER_LENGTH = Integer.BYTES;
    private static final VarHandle FLUSH_SCHEDULED;
    private static final VarHandle RING;

    static {
        try {
            FLUSH_SCHEDULED = MethodHandles.lookup().findVarHandle(OutboundPath.class, "flushScheduled", int.class);
            RING = MethodHandles.lookup().findVarHandle(OutboundPath.class, "ring", RingPool.Lease.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Owner owner;
    private final ConnectionChannel channel; // how the loop knows this connection
    private final EventLoop loop;
    private final long fd;
    private final boolean unix;
    private final int highWaterBytes;
    private final long stallNanos;
    private volatile RingPool.Lease ring; // null until the first send from a thread other than the loop
    private final int maxRecordLength; // from the limits: read on every claim
    @SuppressWarnings("unused") // accessed through FLUSH_SCHEDULED
    private volatile int flushScheduled;
    // Loop only from here on.
    private final Staging staging;
    private UnsafeBuffer lastFrame; // our GOAWAY: written once staging and the ring are empty
    private boolean sendBlocked;
    private boolean stagedFlushQueued; // on the loop's list of connections to write out
    private boolean writeInterest;
    private boolean overHighWater;
    private long blockedSinceNanos; // while writeInterest: when the socket last took anything
    private long stallTimer = -1;
    private boolean opened; // the connection's open() has run, so flushes may write
    private boolean ringRetired; // the ring went back to the loop's pool: it may be another connection's now
    private final ControlledMessageHandler stager = this::stage;

    OutboundPath(Owner owner, ConnectionChannel channel, EventLoop loop, long fd, boolean unix,
            TransportOptions options, OutboundLimits limits) {
        this.owner = owner;
        this.channel = channel;
        this.loop = loop;
        this.fd = fd;
        this.unix = unix;
        this.highWaterBytes = options.sendHighWaterBytes();
        this.stallNanos = TimeUnit.MILLISECONDS.toNanos(options.sendStallTimeoutMs());
        this.maxRecordLength = limits.maxRecordLength();
        this.staging = new Staging(loop, loop.fdScratch());
    }

    /** Loop work: whether the bytes staged for the peer are past the high-water mark. */
    boolean overHighWater() {
        return staging.pending() >= highWaterBytes;
    }

    ConnectionState state() {
        return owner.state();
    }

    StatusException unavailable() {
        return owner.unavailable();
    }

    /** The connection, for messages. */
    Object channel() {
        return channel;
    }

    // ---------------------------------------------------------------------------------------------------
    // Sending
    // ---------------------------------------------------------------------------------------------------

    /**
     * Any thread: one frame without fds if there is room now; false is backpressure (a full ring, or loop work
     * on a connection past its high-water mark).
     */
    boolean offer(byte type, long correlationId, int capId, int methodId, DirectBuffer payload, int offset,
            int length) {
        if (loop.inLoop()) {
            if (staging.pending() >= highWaterBytes) {
                return false;
            }
            stage(type, correlationId, capId, methodId, 0, payload, offset, length, null);
            return true;
        }
        return tryRing(type, correlationId, capId, methodId, 0, payload, offset, length, null, 0);
    }

    /** Loop: a frame the transport owes the peer (PONG, PING, CANCEL, an ERROR reply); never refused. */
    void sendControl(byte type, long correlationId, DirectBuffer payload, int offset, int length) {
        stage(type, correlationId, 0, 0, 0, payload, offset, length, null);
    }

    /**
     * Loop: a CANCEL for a request whose deadline passed, taking the way the request took (the ring, best effort,
     * or staging) so that it cannot overtake the request's own frames.
     */
    void sendCancel(long correlationId, boolean throughRing) {
        if (throughRing) {
            tryRing(FrameType.CANCEL, correlationId, 0, 0, 0, BufferPool.RELEASED, 0, 0, null, 0);
        } else {
            sendControl(FrameType.CANCEL, correlationId, BufferPool.RELEASED, 0, 0);
        }
    }

    /** Loop: the connection's last frame (our GOAWAY), written once everything queued before it is out. */
    void sendLast(UnsafeBuffer frame) {
        lastFrame = frame;
    }

    /** Loop work: appends to staging, stops reading past the high-water mark, and has the loop write it out. */
    void stage(byte type, long correlationId, int capId, int methodId, int flags, DirectBuffer payload,
            int offset, int length, long[] fds) {
        if (staging.isReleased()) {
            if (fds != null) {
                Handles.closeAll(fds); // closed meanwhile: nothing goes out any more
            }
            return;
        }
        staging.append(type, correlationId, capId, methodId, flags, payload, offset, length, fds);
        staged();
    }

    /** After something was appended to staging: the high-water mark, and a flush on the loop's own list. */
    private void staged() {
        if (!overHighWater && staging.pending() > highWaterBytes) {
            overHighWater = true;
            owner.backlogChanged(true);
        }
        if (!stagedFlushQueued) {
            stagedFlushQueued = true; // the loop's own list: no fence, no CAS, no concurrent queue
            loop.flushStagedLater(channel);
        }
    }

    /** One frame (plus its fd numbers after it) into the ring; false when there is no room. */
    boolean tryRing(byte type, long correlationId, int capId, int methodId, int flags,
            DirectBuffer payload, int offset, int length, long[] fds, int fdCount) {
        int frameLength = FrameHeader.HEADER_LENGTH + length;
        int recordLength = frameLength + Handles.bytes(fdCount);
        if (recordLength > maxRecordLength) {
            throw new IllegalArgumentException("a frame of " + frameLength + " bytes does not fit the ring's largest "
                    + "record (" + maxRecordLength + " bytes)");
        }
        RingPool.Lease lease = ring();
        ManyToOneRingBuffer ring = lease.ring;
        int index = ring.tryClaim(fdCount == 0 ? MSG_FRAME : MSG_FRAME_WITH_FDS, recordLength);
        if (index <= 0) {
            scheduleFlushIfIdle(); // full: make sure the loop drains it, even of padding no commit announced
            return false;
        }
        if (lease.owner != this) {
            ring.abort(index); // the connection closed and its ring moved on (RingPool, rule 1)
            return false;
        }
        MutableDirectBuffer buffer = ring.buffer();
        FrameHeader.write(buffer, index, frameLength, type, flags, correlationId, capId, methodId, fdCount);
        if (length > 0) {
            buffer.putBytes(index + FrameHeader.HEADER_LENGTH, payload, offset, length);
        }
        Handles.put(buffer, index + frameLength, fds, fdCount);
        ring.commit(index);
        scheduleFlushIfIdle();
        return true;
    }

    /** The most frame bytes one batch may hold: a ring record less the batch's count. */
    int maxBatchBytes() {
        return maxRecordLength - BATCH_HEADER_LENGTH;
    }

    /**
     * Any thread but the loop: claims a ring record for up to {@code bytes} of frames, to be written in place.
     * Returns the index in {@link #ringBuffer()} where the frames go, or -1 when the ring has no room now.
     */
    int claimBatch(int bytes) {
        if (bytes > maxBatchBytes()) {
            throw new IllegalArgumentException("a batch of " + bytes + " bytes exceeds the ring's largest record ("
                    + maxBatchBytes() + " bytes of frames)");
        }
        RingPool.Lease lease = ring();
        int index = lease.ring.tryClaim(MSG_BATCH, BATCH_HEADER_LENGTH + bytes);
        if (index <= 0) {
            scheduleFlushIfIdle(); // full: make sure the loop drains it, even of padding no commit announced
            return -1;
        }
        if (lease.owner != this) {
            lease.ring.abort(index); // the connection closed and its ring moved on (RingPool, rule 1)
            return -1;
        }
        return index + BATCH_HEADER_LENGTH;
    }

    /** The ring's memory, where a claimed batch is written. */
    MutableDirectBuffer ringBuffer() {
        return ring().ring.buffer();
    }

    /**
     * Publishes a claimed batch whose first {@code used} bytes hold whole frames: one commit and one fence for
     * all of them.
     */
    void commitBatch(int framesIndex, int used) {
        int index = framesIndex - BATCH_HEADER_LENGTH;
        ManyToOneRingBuffer ring = this.ring.ring;
        ring.buffer().putInt(index, used);
        ring.commit(index);
        scheduleFlushIfIdle();
    }

    /** Gives a claimed batch back unsent: the ring skips it. */
    void abortBatch(int framesIndex) {
        ring.ring.abort(framesIndex - BATCH_HEADER_LENGTH);
    }

    /**
     * Loop work: whole frames written elsewhere (a batch begun on the loop's thread, which checked the high-water
     * mark when it began) go into staging with one copy.
     */
    void stageBatch(DirectBuffer frames, int offset, int length) {
        if (length > 0 && !staging.isReleased()) {
            staging.appendBytes(frames, offset, length);
            staged();
        }
    }

    /** Whether the calling thread is the connection's loop (its sends go into staging, not the ring). */
    boolean inLoop() {
        return loop.inLoop();
    }

    /** Whether the outbound ring exists yet (for tests: a connection only its loop writes to never needs one). */
    boolean ringAllocated() {
        return ring != null;
    }

    /** The outbound ring, taken from the loop's pool by whichever thread first needs it. */
    private RingPool.Lease ring() {
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
     * Makes sure the loop will drain the ring. The fence pairs with the volatile clear in {@link #flush()}:
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
    // Writing (loop only)
    // ---------------------------------------------------------------------------------------------------

    /** The connection is open; flushes may write from now on. */
    void opened() {
        opened = true;
    }

    /** Write out what was staged as loop work. */
    void flushStaged() {
        stagedFlushQueued = false;
        if (opened && owner.state() != ConnectionState.CLOSED) {
            writeOut();
        }
    }

    /** Drain the ring into the socket (called when producers scheduled a flush). */
    void flush() {
        FLUSH_SCHEDULED.setVolatile(this, 0); // cleared first, so a frame written from now on schedules again
        if (owner.state() == ConnectionState.CLOSED) {
            discardRing();
            return;
        }
        if (opened) {
            writeOut(); // else open() writes out, once the listener has heard onOpen
        }
    }

    /** Writes staging and then the ring into the socket until both are empty or the socket is full. */
    void writeOut() {
        if (owner.state() == ConnectionState.CLOSED) {
            return; // staging is released
        }
        owner.beforeWrite();
        for (;;) {
            int pendingBefore = staging.pending();
            int result = staging.writeTo(fd);
            if (result < 0) {
                owner.writeFailed(CloseReason.ioError(unix ? "sendmsg" : "write", result));
                return;
            }
            if (staging.pending() != pendingBefore) {
                madeProgress();
            }
            if (result == Staging.BLOCKED) {
                wantWrite(true);
                return;
            }
            sendBlocked = false;
            ManyToOneRingBuffer queued = ring == null ? null : ring.ring;
            long consumedBefore = queued == null ? 0 : queued.consumerPosition();
            if (queued != null) {
                queued.controlledRead(stager);
            }
            if (owner.state() == ConnectionState.CLOSED) {
                return;
            }
            if (sendBlocked) {
                wantWrite(true);
                return;
            }
            // Progress is the consumer position moving, not the record count: a read that only steps over
            // the padding at the ring's end returns 0 records, and stopping there would strand every frame
            // written after the wrap until some later send.
            if ((queued == null || queued.consumerPosition() == consumedBefore) && staging.pending() == 0) {
                if (lastFrame != null) {
                    staging.append(FrameType.GOAWAY, 0, 0, 0, 0, lastFrame, 0, lastFrame.capacity(),
                            null);
                    lastFrame = null;
                    continue;
                }
                wantWrite(false);
                owner.allSent();
                return;
            }
        }
    }

    private void madeProgress() {
        if (writeInterest) {
            blockedSinceNanos = loop.clock().nanoTime(); // only a blocked socket's progress needs the clock
        }
        if (overHighWater && staging.pending() <= highWaterBytes / 2) {
            overHighWater = false;
            owner.backlogChanged(false);
        }
    }

    /** Copies ring records into staging; an fd-carrying frame is sent on its own with sendmsg. */
    private ControlledMessageHandler.Action stage(int msgTypeId, MutableDirectBuffer buffer, int index, int length) {
        if (msgTypeId == MSG_BATCH) {
            int used = buffer.getInt(index);
            if (used > staging.room()) {
                return ControlledMessageHandler.Action.ABORT; // write what is staged first
            }
            if (used > 0) {
                staging.appendRecord(buffer, index + BATCH_HEADER_LENGTH, used);
            }
            return ControlledMessageHandler.Action.CONTINUE;
        }
        if (msgTypeId == MSG_FRAME) {
            if (length > staging.room()) {
                return ControlledMessageHandler.Action.ABORT; // write what is staged first
            }
            staging.appendRecord(buffer, index, length);
            return ControlledMessageHandler.Action.CONTINUE;
        }
        if (!staging.canTakeFds()) {
            return ControlledMessageHandler.Action.ABORT; // earlier bytes must leave before this frame's fds
        }
        int frameLength = FrameHeader.frameLength(buffer, index);
        int fdCount = Handles.countAfter(frameLength, length);
        int sent = Native.sendFds(fd, buffer.addressOffset() + index, frameLength,
                buffer.addressOffset() + index + frameLength, fdCount);
        if (sent == -Errno.EAGAIN) {
            sendBlocked = true;
            return ControlledMessageHandler.Action.ABORT;
        }
        Handles.closeAll(buffer, index + frameLength, fdCount); // the peer has its own references now
        if (sent < 0) {
            owner.writeFailed(CloseReason.ioError("sendmsg", sent));
            return ControlledMessageHandler.Action.BREAK;
        }
        // The fds went with the first byte; the rest of the frame is ordinary bytes.
        staging.appendBytes(buffer, index + sent, frameLength - sent);
        return ControlledMessageHandler.Action.BREAK;
    }

    private void discardRing() {
        RingPool.Lease lease = ring;
        if (lease == null || ringRetired) {
            return; // a retired ring is drained by its pool, or is another connection's now
        }
        lease.ring.read(DISCARD, Integer.MAX_VALUE);
    }

    /** Drops a queued frame, closing the fds it would have carried. */
    private static final org.agrona.concurrent.MessageHandler DISCARD = (msgTypeId, buffer, index, length) -> {
        if (msgTypeId == MSG_FRAME_WITH_FDS) {
            int frameLength = FrameHeader.frameLength(buffer, index);
            Handles.closeAll(buffer, index + frameLength, Handles.countAfter(frameLength, length));
        }
    };

    private void wantWrite(boolean want) {
        if (want == writeInterest || owner.state() == ConnectionState.CLOSED) {
            return;
        }
        writeInterest = want;
        if (want) {
            blockedSinceNanos = loop.clock().nanoTime();
            if (stallTimer == -1) {
                stallTimer = loop.timers().schedule(blockedSinceNanos + stallNanos, this::checkStall);
            }
        }
        owner.writeInterestChanged();
    }

    /** The stall timer: a peer that has read nothing of what waits for stallNanos is not coming back for it. */
    private void checkStall(long timerId) {
        stallTimer = -1;
        if (!writeInterest || owner.state() == ConnectionState.CLOSED) {
            return;
        }
        long now = loop.clock().nanoTime();
        if (now - blockedSinceNanos < stallNanos) {
            stallTimer = loop.timers().schedule(blockedSinceNanos + stallNanos, this::checkStall);
            return;
        }
        owner.writeFailed(new CloseReason(CloseReason.Kind.PEER_UNRESPONSIVE, "the peer read nothing for "
                + TimeUnit.NANOSECONDS.toMillis(now - blockedSinceNanos) + " ms while " + staging.pending()
                + " bytes waited for it (capwire.sendStallTimeoutMs)"));
    }

    /** Whether the socket was full at the last write, so the poller must say when it drains. */
    boolean wantsWrite() {
        return writeInterest;
    }

    /** At close: frames still queued are dropped (their fds closed) and staging's memory goes back. */
    void release() {
        discardRing();
        RingPool.Lease lease = ring;
        if (lease != null && !ringRetired) {
            ringRetired = true;
            loop.rings().retire(lease, DISCARD);
        }
        staging.release();
        if (stallTimer != -1) {
            loop.timers().cancel(stallTimer);
            stallTimer = -1;
        }
    }
}
