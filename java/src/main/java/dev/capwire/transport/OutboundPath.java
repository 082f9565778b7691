package dev.capwire.transport;

import dev.capwire.bindings.Errno;
import dev.capwire.bindings.Errors;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.StatusCode;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.ControlledMessageHandler;
import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.ringbuffer.ManyToOneRingBuffer;
import org.agrona.concurrent.ringbuffer.RingBufferDescriptor;

/**
 * One connection's way out: the outbound ring, the staging buffer, flushing, and splitting messages into
 * fragments.
 *
 * <p>Senders claim space in a {@link ManyToOneRingBuffer} and write the frame straight into it, lock-free. The
 * loop drains the ring into a staging buffer and writes many frames with one syscall. Frames sent as loop work
 * (replies from a listener, control frames, an invoker-mode application) skip the ring and go straight into
 * staging while the ring is empty: nothing else could go before them. The ring is allocated on the first send
 * from another thread, so a connection that never has one (a handshake that is refused, a server that only
 * replies) never pays for its memory. A frame that carries fds goes out alone with its own sendmsg, so its fds
 * arrive with its first byte. A full ring is backpressure: {@code tryWriteFrame} returns false.
 */
final class OutboundPath {
    /** What the outbound path needs from the connection it serves, and what it tells it. */
    interface Owner {
        ConnectionState state();

        /** UNAVAILABLE naming why the connection closed. */
        StatusException unavailable();

        /** Any thread: the connection cannot go on (a message cut off half-way); abort it. */
        void abort(String why);

        /** Loop: about to write; requests queued by other threads are registered first. */
        void beforeWrite();

        /** Loop: a write failed; the connection is over. */
        void writeFailed(CloseReason reason);

        /** Loop: everything queued has been handed to the kernel. */
        void allSent();

        /** Loop: whether the poller must report writability changed. */
        void writeInterestChanged();
    }

    private static final int MSG_FRAME = 1;
    private static final int MSG_FRAME_WITH_FDS = 2;
    /** Agrona's ManyToOneRingBuffer takes records of at most an eighth of its capacity. */
    private static final int RING_CAPACITY_PER_RECORD = 8;
    private static final VarHandle FLUSH_SCHEDULED;
    private static final VarHandle RING;

    static {
        try {
            FLUSH_SCHEDULED = MethodHandles.lookup().findVarHandle(OutboundPath.class, "flushScheduled", int.class);
            RING = MethodHandles.lookup().findVarHandle(OutboundPath.class, "ring", ManyToOneRingBuffer.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Owner owner;
    private final EventLoop.ConnectionChannel channel; // how the loop knows this connection
    private final EventLoop loop;
    private final int fd;
    private final boolean unix;
    private final int ringBytes;
    private final int maxMessageBytes;
    private final BufferPool stagingPool;
    private volatile ManyToOneRingBuffer ring; // null until the first send from a thread other than the loop
    private final int maxRecordLength; // the ring's largest record, known before the ring exists
    private volatile int maxFramePayload; // lowered once by the layer above (the handshake), before sends
    @SuppressWarnings("unused") // accessed through FLUSH_SCHEDULED
    private volatile int flushScheduled;
    // Loop only from here on.
    private UnsafeBuffer staging; // from the transport's pool; back to it on release()
    private int stagingStart;
    private int stagingEnd;
    private boolean sendBlocked;
    private boolean stagedFlushQueued; // on the loop's list of connections to write out
    private boolean writeInterest;
    private boolean opened; // the connection's open() has run, so flushes may write
    private final ControlledMessageHandler stager = this::stage;

    OutboundPath(Owner owner, EventLoop.ConnectionChannel channel, EventLoop loop, int fd, boolean unix,
            TransportOptions options, BufferPool stagingPool) {
        this.owner = owner;
        this.channel = channel;
        this.loop = loop;
        this.fd = fd;
        this.unix = unix;
        this.ringBytes = options.ringBytes();
        this.maxMessageBytes = options.maxMessageBytes();
        this.stagingPool = stagingPool;
        this.maxRecordLength = ringBytes / RING_CAPACITY_PER_RECORD;
        // A frame must fit one ring record, so the ring also bounds the frames this side sends.
        this.maxFramePayload = Math.min(options.maxFrameBytes(), maxRecordLength) - FrameHeader.HEADER_LENGTH;
        this.staging = stagingPool.take();
    }

    int maxFramePayload() {
        return maxFramePayload;
    }

    /** Frames sent from now on are at most {@code maxFrameBytes}, header included (the peer's limit). */
    void limitFrameBytes(int maxFrameBytes) {
        if (maxFrameBytes <= FrameHeader.HEADER_LENGTH) {
            throw new IllegalArgumentException("maxFrameBytes must exceed the header: " + maxFrameBytes);
        }
        maxFramePayload = Math.min(maxFramePayload, maxFrameBytes - FrameHeader.HEADER_LENGTH);
    }

    void checkSingleFrame(int length, int fdCount) {
        if (length > maxFramePayload) {
            throw new IllegalArgumentException("payload of " + length + " bytes exceeds one frame ("
                    + maxFramePayload + "); use the sending methods that fragment");
        }
        if (fdCount > FrameHeader.MAX_FDS) {
            throw new IllegalArgumentException("at most " + FrameHeader.MAX_FDS + " fds per message");
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Producers (any thread)
    // ---------------------------------------------------------------------------------------------------

    /**
     * Writes one message as one or more frames, waiting for ring space until {@code deadlineNanos}. Once the
     * first fragment is in the ring, the rest must follow or the peer would wait forever for them: a
     * connection whose ring stays full mid-message is aborted.
     */
    void sendMessage(byte type, long correlationId, int capId, int methodId, DirectBuffer payload, int offset,
            int length, FileDescriptor[] fds, long deadlineNanos) {
        if (!owner.state().acceptsSends()) {
            throw owner.unavailable(); // nothing may follow our GOAWAY
        }
        int fdCount = fds == null ? 0 : fds.length;
        if (fdCount > 0 && !unix) {
            throw new IllegalArgumentException("fds can only be passed over Unix-domain sockets");
        }
        checkSingleFrame(0, fdCount);
        if (length > maxMessageBytes) {
            throw new StatusException(StatusCode.RESOURCE_EXHAUSTED, "message of " + length
                    + " bytes exceeds capwire.maxMessageBytes=" + maxMessageBytes);
        }
        int[] duplicated = fdCount == 0 ? null : duplicate(fds);
        int sent = 0;
        boolean first = true;
        try {
            do {
                // The first fragment's record also carries its fd numbers, 4 bytes each, after the frame.
                int limit = first && fdCount > 0
                        ? Math.min(maxFramePayload, maxRecordLength - FrameHeader.HEADER_LENGTH - fdCount * 4)
                        : maxFramePayload;
                int chunk = Math.min(limit, length - sent);
                boolean more = sent + chunk < length;
                int flags = more ? FrameHeader.FLAG_MORE_FRAGMENTS : 0;
                int[] frameFds = first ? duplicated : null;
                int frameFdCount = first ? fdCount : 0;
                while (!tryWriteFrame(type, correlationId, capId, methodId, flags, payload, offset + sent, chunk,
                        frameFds, frameFdCount)) {
                    if (!owner.state().acceptsSends()) {
                        throw owner.unavailable();
                    }
                    if (loop.inLoop()) {
                        // The loop is the ring's consumer: nobody else will make room, so drain it here,
                        // waiting for the socket if it must (this stalls the loop: send big replies off it).
                        writeOut();
                        if (writeInterest && owner.state().acceptsSends()) {
                            Native.waitReady(fd, Native.INTEREST_WRITE, 1);
                        }
                    }
                    if (loop.clock().nanoTime() - deadlineNanos >= 0) {
                        if (!first) {
                            owner.abort("outbound ring stayed full in the middle of a fragmented message");
                        }
                        throw new StatusException(StatusCode.RESOURCE_EXHAUSTED, "outbound ring of " + channel
                                + " stayed full (is the peer reading?)");
                    }
                    if (!loop.inLoop()) {
                        Thread.yield();
                    }
                }
                first = false;
                sent += chunk;
            } while (sent < length);
        } finally {
            if (first && duplicated != null) {
                for (int number : duplicated) {
                    Native.close(number); // never handed to the ring
                }
            }
        }
    }

    private static int[] duplicate(FileDescriptor[] fds) {
        int[] numbers = new int[fds.length];
        int done = 0;
        try {
            for (; done < fds.length; done++) {
                int number = fds[done].acquire();
                try {
                    numbers[done] = Errors.check(Native.dup(number), "dup", fds[done]);
                } finally {
                    fds[done].release();
                }
            }
            return numbers;
        } catch (NativeIoException e) {
            for (int i = 0; i < done; i++) {
                Native.close(numbers[i]);
            }
            throw new StatusException(StatusCode.INVALID_ARGUMENT, "cannot pass " + e.getMessage(), e);
        }
    }

    /**
     * Writes one frame (plus its fd numbers after it) into the ring, or as loop work straight into
     * staging when it can; false when there is no room.
     */
    boolean tryWriteFrame(byte type, long correlationId, int capId, int methodId, int flags,
            DirectBuffer payload, int offset, int length, int[] fds, int fdCount) {
        int frameLength = FrameHeader.HEADER_LENGTH + length;
        if (fdCount == 0 && loop.inLoop()
                && tryStage(type, correlationId, capId, methodId, flags, payload, offset, length, frameLength)) {
            return true;
        }
        int recordLength = frameLength + fdCount * 4;
        if (recordLength > maxRecordLength) {
            return false; // larger than any ring record: staging was its only way, and it had no room
        }
        ManyToOneRingBuffer ring = ring();
        int index = ring.tryClaim(fdCount == 0 ? MSG_FRAME : MSG_FRAME_WITH_FDS, recordLength);
        if (index <= 0) {
            return false;
        }
        MutableDirectBuffer buffer = ring.buffer();
        FrameHeader.write(buffer, index, frameLength, type, flags, correlationId, capId, methodId, fdCount);
        if (length > 0) {
            buffer.putBytes(index + FrameHeader.HEADER_LENGTH, payload, offset, length);
        }
        for (int i = 0; i < fdCount; i++) {
            buffer.putInt(index + frameLength + i * 4, fds[i]);
        }
        ring.commit(index);
        scheduleFlushIfIdle();
        return true;
    }

    /**
     * Loop work: puts the frame straight into staging, after whatever is staged already. Only while the ring
     * is empty, since frames waiting there were sent first; fd-carrying frames never come here (they leave
     * alone, through the ring).
     */
    private boolean tryStage(byte type, long correlationId, int capId, int methodId, int flags,
            DirectBuffer payload, int offset, int length, int frameLength) {
        ManyToOneRingBuffer queued = ring;
        if (queued != null && queued.producerPosition() != queued.consumerPosition()) {
            return false;
        }
        if (stagingEnd + frameLength > staging.capacity()) {
            return false; // a released staging buffer has no room at all
        }
        FrameHeader.write(staging, stagingEnd, frameLength, type, flags, correlationId, capId, methodId, 0);
        if (length > 0) {
            staging.putBytes(stagingEnd + FrameHeader.HEADER_LENGTH, payload, offset, length);
        }
        stagingEnd += frameLength;
        if (!stagedFlushQueued) {
            stagedFlushQueued = true; // the loop's own list: no fence, no CAS, no concurrent queue
            loop.flushStagedLater(channel);
        }
        return true;
    }

    /** Whether the outbound ring exists yet (for tests: a connection only its loop writes to never needs one). */
    boolean ringAllocated() {
        return ring != null;
    }

    /** The outbound ring, allocated by whichever thread first needs it. */
    private ManyToOneRingBuffer ring() {
        ManyToOneRingBuffer existing = ring;
        if (existing != null) {
            return existing;
        }
        ManyToOneRingBuffer created = new ManyToOneRingBuffer(new UnsafeBuffer(
                BufferUtil.allocateDirectAligned(ringBytes + RingBufferDescriptor.TRAILER_LENGTH, 64)));
        return RING.compareAndSet(this, null, created) ? created : (ManyToOneRingBuffer) RING.getVolatile(this);
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
    // The loop's side
    // ---------------------------------------------------------------------------------------------------

    /** Loop: the connection is open; flushes may write from now on. */
    void opened() {
        opened = true;
    }

    /** Loop: write out what {@link #tryStage} put into staging. */
    void flushStaged() {
        stagedFlushQueued = false;
        if (opened && owner.state() != ConnectionState.CLOSED) {
            writeOut();
        }
    }

    /** Loop: drain the ring into the socket (called when producers scheduled a flush). */
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

    /** Loop: writes staging and then the ring into the socket until both are empty or the socket is full. */
    void writeOut() {
        if (owner.state() == ConnectionState.CLOSED) {
            return; // the staging buffer is back in the pool
        }
        owner.beforeWrite();
        for (;;) {
            if (stagingEnd > stagingStart) {
                int written = Native.write(fd, staging.addressOffset() + stagingStart, stagingEnd - stagingStart);
                if (written == -Errno.EAGAIN) {
                    wantWrite(true);
                    return;
                }
                if (written < 0) {
                    owner.writeFailed(CloseReason.ioError("write", written));
                    return;
                }
                stagingStart += written;
                if (stagingStart < stagingEnd) {
                    wantWrite(true);
                    return;
                }
                stagingStart = 0;
                stagingEnd = 0;
            }
            sendBlocked = false;
            ManyToOneRingBuffer queued = ring;
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
            if ((queued == null || queued.consumerPosition() == consumedBefore) && stagingEnd == 0) {
                wantWrite(false);
                owner.allSent();
                return;
            }
        }
    }

    /** Copies ring records into staging; an fd-carrying frame is sent on its own with sendmsg. */
    private ControlledMessageHandler.Action stage(int msgTypeId, MutableDirectBuffer buffer, int index, int length) {
        if (msgTypeId == MSG_FRAME) {
            if (stagingEnd + length > staging.capacity()) {
                return ControlledMessageHandler.Action.ABORT; // write what is staged first
            }
            staging.putBytes(stagingEnd, buffer, index, length);
            stagingEnd += length;
            return ControlledMessageHandler.Action.CONTINUE;
        }
        if (stagingEnd > 0) {
            return ControlledMessageHandler.Action.ABORT; // earlier bytes must leave before this frame's fds
        }
        int frameLength = FrameHeader.frameLength(buffer, index);
        int fdCount = (length - frameLength) / 4;
        int sent = Native.sendFds(fd, buffer.addressOffset() + index, frameLength,
                buffer.addressOffset() + index + frameLength, fdCount);
        if (sent == -Errno.EAGAIN) {
            sendBlocked = true;
            return ControlledMessageHandler.Action.ABORT;
        }
        closeRecordFds(buffer, index + frameLength, fdCount); // the peer has its own references now
        if (sent < 0) {
            owner.writeFailed(CloseReason.ioError("sendmsg", sent));
            return ControlledMessageHandler.Action.BREAK;
        }
        // The fds went with the first byte; the rest of the frame is ordinary bytes.
        staging.putBytes(0, buffer, index + sent, frameLength - sent);
        stagingEnd = frameLength - sent;
        return ControlledMessageHandler.Action.BREAK;
    }

    private static void closeRecordFds(DirectBuffer buffer, int at, int count) {
        for (int i = 0; i < count; i++) {
            Native.close(buffer.getInt(at + i * 4));
        }
    }

    private void discardRing() {
        ManyToOneRingBuffer queued = ring;
        if (queued == null) {
            return;
        }
        queued.read((msgTypeId, buffer, index, length) -> {
            if (msgTypeId == MSG_FRAME_WITH_FDS) {
                int frameLength = FrameHeader.frameLength(buffer, index);
                closeRecordFds(buffer, index + frameLength, (length - frameLength) / 4);
            }
        }, Integer.MAX_VALUE);
    }

    private void wantWrite(boolean want) {
        if (want == writeInterest || owner.state() == ConnectionState.CLOSED) {
            return;
        }
        writeInterest = want;
        owner.writeInterestChanged();
    }

    /** Whether the socket was full at the last write, so the poller must say when it drains. */
    boolean wantsWrite() {
        return writeInterest;
    }

    /** Loop, at close: frames still queued are dropped (their fds closed) and staging goes back to the pool. */
    void release() {
        discardRing();
        stagingPool.give(staging);
        staging = BufferPool.RELEASED;
        stagingStart = 0;
        stagingEnd = 0;
    }
}
