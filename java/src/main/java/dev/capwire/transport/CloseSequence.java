package dev.capwire.transport;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.Native;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.GoAwayReason;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * How one connection ends, and the one place its {@link ConnectionState} changes. Loop work only, except the
 * reads of {@link #state()} and the futures.
 *
 * <p>A graceful close and a protocol error both go OPEN, CLOSING (our GOAWAY queued behind what was sent
 * before it), LINGERING (all of it is with the kernel and our sending side is shut), CLOSED. An I/O error, the
 * peer's end of stream or GOAWAY, an abort or a timer that ran out jump straight to CLOSED.
 */
final class CloseSequence {
    /** What the close needs from above: the loop and the listener, which know the connection itself. */
    interface Owner {
        /** The socket is closed: the loop forgets the connection. */
        void forget();

        /** The listener hears of the close, exactly once. */
        void closed(CloseReason reason);
    }

    /** How long a closing connection waits for the peer's end of stream after its GOAWAY went out. */
    private static final long LINGER_MS = 1000;
    /** Every graceful close says the same, so it is encoded once. */
    private static final UnsafeBuffer NORMAL_CLOSE_GOAWAY = goAwayPayload(GoAwayReason.NORMAL_CLOSE, "closing", 0);

    private final Owner owner;
    private final Object name; // the connection, for messages
    private final OutboundPath outbound;
    private final InboundPath inbound;
    private final RequestTable requests;
    private final Keepalive keepalive;
    private final EventLoop loop;
    private final FileDescriptor socket;
    private final long fd;
    private final boolean unix;
    private final long closeTimeoutMs;
    private volatile ConnectionState state = ConnectionState.OPEN;
    private volatile CloseReason reason;
    private long closeTimer = -1;
    private boolean detached; // the socket leaves with its fd open: see detach()
    private final CompletableFuture<CloseReason> closed = new CompletableFuture<>();
    /** Completes once our GOAWAY (and all before it) is handed to the kernel and our sending side is shut. */
    private final CompletableFuture<Void> sendingDone = new CompletableFuture<>();

    CloseSequence(Owner owner, Object name, OutboundPath outbound, InboundPath inbound, RequestTable requests,
            Keepalive keepalive, EventLoop loop, FileDescriptor socket, long fd, boolean unix, long closeTimeoutMs) {
        this.owner = owner;
        this.name = name;
        this.outbound = outbound;
        this.inbound = inbound;
        this.requests = requests;
        this.keepalive = keepalive;
        this.loop = loop;
        this.socket = socket;
        this.fd = fd;
        this.unix = unix;
        this.closeTimeoutMs = closeTimeoutMs;
    }

    ConnectionState state() {
        return state;
    }

    CompletableFuture<CloseReason> closed() {
        return closed;
    }

    CompletableFuture<Void> sendingDone() {
        return sendingDone;
    }

    /** UNAVAILABLE naming why the connection closed, for a caller that tried to use it. */
    StatusException unavailable() {
        CloseReason why = reason;
        return new StatusException(StatusCode.UNAVAILABLE, name + " is closed" + (why != null ? " (" + why + ")"
                : ""));
    }

    /**
     * Graceful close: our GOAWAY after what is queued, then linger (see {@link #onAllSent()}). Its reason is
     * SHUTTING_DOWN when the whole transport is stopping, NORMAL_CLOSE when only this connection is closed.
     */
    void startClose(boolean shuttingDown) {
        if (state != ConnectionState.OPEN) {
            return;
        }
        long lastRequestId = inbound.lastRequestId();
        UnsafeBuffer goAway = !shuttingDown && lastRequestId == 0 ? NORMAL_CLOSE_GOAWAY
                : goAwayPayload(shuttingDown ? GoAwayReason.SHUTTING_DOWN : GoAwayReason.NORMAL_CLOSE,
                        shuttingDown ? "shutting down" : "closing", lastRequestId);
        beginClosing(new CloseReason(CloseReason.Kind.LOCAL_CLOSE, shuttingDown ? "shutting down" : "closed locally"),
                goAway, new CloseReason(CloseReason.Kind.LOCAL_ABORT, "close timed out with frames still unsent"));
    }

    /**
     * The peer has sent nothing for too long (keepalive): a GOAWAY IDLE_TIMEOUT goes out if the socket takes it
     * now, and the connection closes without lingering, since a peer that reads nothing would not read more.
     */
    void idleTimeout(String why) {
        if (state == ConnectionState.CLOSED) {
            return;
        }
        CloseReason unresponsive = new CloseReason(CloseReason.Kind.PEER_UNRESPONSIVE, why);
        if (state == ConnectionState.OPEN) {
            reason = unresponsive;
            outbound.sendLast(goAwayPayload(GoAwayReason.IDLE_TIMEOUT, why, inbound.lastRequestId()));
            state = ConnectionState.CLOSING; // nothing more may be sent; what is queued goes first
            outbound.writeOut();
        }
        closeNow(unresponsive);
    }

    /**
     * Ends the connection for a protocol reason: frames queued before (a Refused reply, say) are flushed, then
     * a GOAWAY naming {@code goAwayReason} and {@code message}, then the close. Idempotent.
     */
    void protocolError(GoAwayReason goAwayReason, String message) {
        if (state != ConnectionState.OPEN) {
            if (state != ConnectionState.CLOSED) {
                inbound.stopDecoding(); // already closing: the rest is read only to be discarded
            }
            return;
        }
        inbound.stopDecoding();
        CloseReason why = new CloseReason(CloseReason.Kind.PROTOCOL_ERROR, goAwayReason + ": " + message);
        beginClosing(why, goAwayPayload(goAwayReason, message, inbound.lastRequestId()), why);
    }

    private void beginClosing(CloseReason why, UnsafeBuffer goAway, CloseReason ifTimedOut) {
        reason = why;
        outbound.sendLast(goAway); // after everything queued before it, from every sender
        state = ConnectionState.CLOSING;
        requests.failAll(this::unavailable);
        closeTimer = loop.timers().schedule(loop.clock().nanoTime() + TimeUnit.MILLISECONDS.toNanos(closeTimeoutMs),
                id -> closeNow(ifTimedOut));
        outbound.writeOut();
    }

    /**
     * Loop: the outbound path has written everything queued. While closing, that includes our GOAWAY: shut
     * down our sending side and linger, reading and discarding, until the peer closes too or the linger time
     * passes. Closing at once while the peer's bytes sit unread in our receive queue makes the kernel reset
     * the connection, and the peer may then never read the GOAWAY that says why (seen with a peer flooding a
     * fragmented message).
     */
    void onAllSent() {
        if (state != ConnectionState.CLOSING) {
            return;
        }
        if (unix && reason.kind() == CloseReason.Kind.LOCAL_CLOSE && !loop.isReceiveBufferLent()) {
            // A Unix socket keeps what we sent readable for the peer after we close: only bytes left unread
            // in our own queue would turn its end of stream into a reset. With nothing unread (one read
            // tells), a graceful close closes now, and nobody has to wait for, or later notice, the peer's
            // close. Not after a protocol error: a peer that is flooding us would fail its write and might
            // never read the GOAWAY that says why, so that close lingers like every close on TCP. Nor from
            // a listener called by a read (of this connection or another: the loop's receive buffer is lent
            // out), which is still consuming what arrived.
            long before = inbound.bytesReceived();
            inbound.readIn(false);
            if (state == ConnectionState.CLOSING && inbound.bytesReceived() == before) {
                closeNow(reason);
            }
            if (state == ConnectionState.CLOSED) {
                return; // closed by us now, or by the peer's close the read found
            }
        }
        state = ConnectionState.LINGERING;
        Native.shutdown(fd, false, true);
        sendingDone.complete(null);
        cancelCloseTimer();
        closeTimer = loop.timers().schedule(loop.clock().nanoTime()
                + TimeUnit.MILLISECONDS.toNanos(Math.min(LINGER_MS, closeTimeoutMs)), id -> closeNow(reason));
    }

    /** Loop: the peer's end of stream. */
    void onEndOfStream() {
        closeNow(reason != null ? reason
                : new CloseReason(CloseReason.Kind.REMOTE_CLOSE, "the peer closed the connection"));
    }

    /** Loop: a read failed. While closing, a reset is just the peer's way of finishing: keep our reason. */
    void onReadFailed(CloseReason failure) {
        closeNow(state == ConnectionState.OPEN ? failure : reason);
    }

    /** Loop: the peer sent GOAWAY; it sends nothing more, so neither do we. */
    void onGoAway(DirectBuffer buffer, int offset, int length) {
        closeNow(state != ConnectionState.OPEN ? reason : new CloseReason(CloseReason.Kind.REMOTE_CLOSE,
                "peer sent GOAWAY: " + describeGoAway(buffer, offset, length)));
    }

    /**
     * Loop: releases everything the connection holds as {@link #closeNow} does, except the socket: its fd stays
     * open for whoever took it (another process, to which it was handed), and nothing is written to it or shut,
     * since that would reach the peer the new owner now talks to. The caller removed it from the poller first.
     */
    void detach(CloseReason why) {
        detached = true;
        closeNow(why);
    }

    /** Loop: close the socket now and release everything the connection holds. Idempotent. */
    void closeNow(CloseReason why) {
        if (state == ConnectionState.CLOSED) {
            return;
        }
        state = ConnectionState.CLOSED;
        reason = why;
        cancelCloseTimer();
        keepalive.stop();
        if (!detached) {
            socket.close();
        }
        socket.release(); // the number is closed here, exactly once (unless detached: then by its new owner)
        owner.forget();
        outbound.release();
        inbound.release();
        requests.failAll(this::unavailable);
        try {
            owner.closed(why);
        } finally {
            sendingDone.complete(null);
            closed.complete(why);
        }
    }

    /**
     * Any thread, on a connection its stopped loop never opened (so never registered, and touched by no loop
     * work): closes the socket and completes the futures. No listener hears of it, as none heard of the open.
     */
    void releaseUnopened() {
        CloseReason why = new CloseReason(CloseReason.Kind.LOCAL_ABORT, "the event loop stopped before it opened "
                + name);
        reason = why;
        state = ConnectionState.CLOSED;
        socket.close();
        socket.release();
        sendingDone.complete(null);
        closed.complete(why);
    }

    private void cancelCloseTimer() {
        if (closeTimer != -1) {
            loop.timers().cancel(closeTimer);
            closeTimer = -1;
        }
    }

    /** {@code lastRequestId}: the highest request this side handed to its listener, so the peer knows which of its
     * requests may have been acted on (docs/wire-protocol.md, "GOAWAY payload"). */
    private static UnsafeBuffer goAwayPayload(GoAwayReason reason, String message, long lastRequestId) {
        return new UnsafeBuffer(GoAway.newBuilder().setReason(reason).setMessage(message)
                .setLastCorrelationId(lastRequestId).build().toByteArray());
    }

    private static String describeGoAway(DirectBuffer buffer, int offset, int length) {
        byte[] bytes = new byte[length];
        buffer.getBytes(offset, bytes);
        try {
            GoAway goAway = GoAway.parseFrom(bytes);
            return goAway.getReason() + (goAway.getMessage().isEmpty() ? "" : " (" + goAway.getMessage() + ")");
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            return "unreadable GOAWAY payload";
        }
    }
}
