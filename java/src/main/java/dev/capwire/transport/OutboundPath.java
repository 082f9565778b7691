package dev.capwire.transport;

import dev.capwire.bindings.Errno;
import dev.capwire.bindings.Native;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.ControlledMessageHandler;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One connection's way out, as its loop runs it: loop work's frames into staging, the ring drained in behind
 * them, everything written into the socket, and the backpressure that bounds staging.
 *
 * <p>Two kinds of sender, two ways in. Application threads write into the {@link OutboundRing}, lock-free; a
 * full ring is their backpressure. Loop work (replies from a listener, control frames, an invoker-mode
 * application) appends straight to {@link Staging} instead, which never refuses a frame: the loop must never
 * wait for a socket, or every other connection on it would wait too. Each sender's frames keep their order,
 * since each sender uses one way only; the loop copies the ring's records into staging behind what it staged
 * itself, and writes both with one system call. Loop work that stages a large batch has it written as it grows,
 * a {@code capwire.earlyWriteBytes} at a time ({@link #writeEarly}), so the peer need not wait for all of it.
 *
 * <p>What bounds staging is the connection's backpressure, as Netty's writability and auto-read do it: when the
 * bytes staged pass the high-water mark the connection stops reading (its handlers stop producing) until they
 * drain below the low-water mark. A socket that stays full is {@link WriteInterest}'s. Every other connection on
 * the loop carries on meanwhile.
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

    private final Owner owner;
    private final ConnectionChannel channel; // how the loop knows this connection
    private final EventLoop loop;
    private final long fd;
    private final boolean unix;
    private final int highWaterBytes;
    private final int earlyWriteBytes; // 0: loop work's frames go out at the end of the duty cycle only
    private final OutboundRing ring; // application threads' frames
    // Loop only from here on.
    private final Staging staging;
    private UnsafeBuffer lastFrame; // our GOAWAY: written once staging and the ring are empty
    private boolean sendBlocked;
    private boolean stagedFlushQueued; // on the loop's list of connections to write out
    private final WriteInterest writeInterest;
    private boolean overHighWater;
    private boolean opened; // the connection's open() has run, so flushes may write
    private boolean earlyWriteStopped; // an early write found the socket full or failing: none until the next flush
    private final ControlledMessageHandler stager = this::stageRecord;

    OutboundPath(Owner owner, ConnectionChannel channel, EventLoop loop, long fd, boolean unix,
            TransportOptions options, OutboundRing ring) {
        this.owner = owner;
        this.channel = channel;
        this.loop = loop;
        this.fd = fd;
        this.unix = unix;
        this.highWaterBytes = options.sendHighWaterBytes();
        this.earlyWriteBytes = options.earlyWriteBytes();
        this.ring = ring;
        this.staging = new Staging(loop, loop.fdScratch());
        this.writeInterest = new WriteInterest(owner, loop, staging, options);
    }

    /** Whether the socket is full: the connection's interest in the poller, and how long it has been full. */
    WriteInterest writeInterest() {
        return writeInterest;
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
        return ring.offer(type, correlationId, capId, methodId, 0, payload, offset, length, null, 0);
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
            ring.offer(FrameType.CANCEL, correlationId, 0, 0, 0, BufferPool.RELEASED, 0, 0, null, 0);
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
        if (earlyWriteBytes > 0 && staging.pending() >= earlyWriteBytes) {
            writeEarly();
        }
    }

    /**
     * Loop work staged a write's worth ({@code capwire.earlyWriteBytes}): it goes out now, not at the end of the
     * duty cycle, so the peer works on the first part of a large batch (128 answers, or an invoker-mode
     * application's 128 calls) while this side makes the rest; without it the two sides took turns, each idle
     * while the other worked through the whole batch. Only what the socket takes now is written, and nothing
     * else happens here: a full socket, or a failed write, is left to the flush already queued for the end of the
     * cycle, which deals with it (write interest, the close) outside the loop work that staged the frame.
     */
    private void writeEarly() {
        if (earlyWriteStopped || !opened || owner.state() == ConnectionState.CLOSED || writeInterest.isWanted()) {
            return; // not writable yet, closed, or the socket is full or failing: the queued flush will do
        }
        owner.beforeWrite();
        int pendingBefore = staging.pending();
        int result = staging.writeTo(fd);
        if (result >= 0 && staging.pending() != pendingBefore) {
            madeProgress();
        }
        // Else one failed system call per frame staged until the flush, for a peer that stopped reading.
        earlyWriteStopped = result < 0 || result == Staging.BLOCKED;
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
        ring.flushStarts();
        if (owner.state() == ConnectionState.CLOSED) {
            ring.discard();
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
        earlyWriteStopped = false;
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
                writeInterest.want(true);
                return;
            }
            sendBlocked = false;
            boolean drained = ring.drainInto(stager);
            if (owner.state() == ConnectionState.CLOSED) {
                return;
            }
            if (sendBlocked) {
                writeInterest.want(true);
                return;
            }
            if (!drained && staging.pending() == 0) { // the ring took no step, even over padding: see drainInto
                if (lastFrame != null) {
                    staging.append(FrameType.GOAWAY, 0, 0, 0, 0, lastFrame, 0, lastFrame.capacity(),
                            null);
                    lastFrame = null;
                    continue;
                }
                writeInterest.want(false);
                owner.allSent();
                return;
            }
        }
    }

    private void madeProgress() {
        writeInterest.progressed();
        if (overHighWater && staging.pending() <= highWaterBytes / 2) {
            overHighWater = false;
            owner.backlogChanged(false);
        }
    }

    /** Copies ring records into staging; an fd-carrying frame is sent on its own with sendmsg. */
    private ControlledMessageHandler.Action stageRecord(int msgTypeId, MutableDirectBuffer buffer, int index,
            int length) {
        if (msgTypeId == OutboundRing.MSG_BATCH) {
            int used = buffer.getInt(index);
            if (used > staging.room()) {
                return ControlledMessageHandler.Action.ABORT; // write what is staged first
            }
            if (used > 0) {
                staging.appendRecord(buffer, index + OutboundRing.BATCH_HEADER_LENGTH, used);
            }
            return ControlledMessageHandler.Action.CONTINUE;
        }
        if (msgTypeId == OutboundRing.MSG_FRAME) {
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

    /** At close: frames still queued are dropped (their fds closed) and staging's memory goes back. */
    void release() {
        ring.retire();
        staging.release();
        writeInterest.release();
    }
}
