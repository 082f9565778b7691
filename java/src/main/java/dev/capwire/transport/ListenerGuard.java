package dev.capwire.transport;

import dev.capwire.wire.ErrorPayload;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Runs one connection's listener callbacks so that nothing they do can kill the event loop or leave a caller
 * waiting. A failure goes to the transport's error handler; a REQUEST whose handler threw is answered
 * INTERNAL and counts as consumed (the decoder moves on, the frame is never delivered twice); an {@link Error}
 * (out of memory, a stack overflow) may have left this connection's state half-changed, so it closes this
 * connection, and only this one.
 */
final class ListenerGuard {
    /** What the guard needs to answer or end the connection whose listener failed. */
    interface Owner {
        boolean acceptsSends();

        /** Best effort, never waiting: with the ring full the caller's deadline answers it instead. */
        void tryReplyError(long correlationId, UnsafeBuffer errorPayload);

        void closeNow(CloseReason reason);
    }

    private final FrameListener listener;
    private final Owner owner;
    private final EventLoop loop;
    private final boolean exposeHandlerErrors;

    ListenerGuard(FrameListener listener, Owner owner, EventLoop loop, boolean exposeHandlerErrors) {
        this.listener = listener;
        this.owner = owner;
        this.loop = loop;
        this.exposeHandlerErrors = exposeHandlerErrors;
    }

    /** False when onOpen failed; the caller then closes the connection. */
    boolean onOpen(Connection connection) {
        try {
            listener.onOpen(connection);
            return true;
        } catch (RuntimeException | Error e) {
            report(connection, "onOpen", e);
            return false;
        }
    }

    void onFrame(Connection connection, InboundFrame frame) {
        try {
            listener.onFrame(connection, frame);
        } catch (RuntimeException e) {
            report(connection, "onFrame", e);
            if (frame.type() == FrameType.REQUEST && owner.acceptsSends()) {
                owner.tryReplyError(frame.correlationId(), errorPayload(StatusCode.INTERNAL, "handler.failed", describe(e)));
            }
        } catch (Error e) {
            report(connection, "onFrame", e);
            owner.closeNow(new CloseReason(CloseReason.Kind.LOCAL_ABORT,
                    "the listener failed with " + e));
        }
    }

    /**
     * The same policy for a request's {@link ReplyHandler}: reported; an {@link Error} closes this connection
     * only. There is nothing to answer: the failed callback was the answer.
     */
    void replyHandlerFailed(Connection connection, Throwable failure) {
        loop.reportError(new ListenerException("a reply handler on " + connection + " threw", failure));
        if (failure instanceof Error) {
            owner.closeNow(new CloseReason(CloseReason.Kind.LOCAL_ABORT, "a reply handler failed with " + failure));
        }
    }

    /**
     * The same policy for a handler that failed off the loop ({@link OffLoopListener}): reported; a REQUEST is
     * answered INTERNAL (from this thread, waiting at most {@code sendTimeoutMs} for room, best effort); an
     * {@link Error} closes this connection only. Never throws, so the executor's thread carries on.
     */
    void onFrameFailedOffLoop(Connection connection, byte type, long correlationId, Throwable failure) {
        report(connection, "onFrame (off the loop)", failure);
        if (failure instanceof Error) {
            connection.abort("the listener failed with " + failure);
        } else if (type == FrameType.REQUEST && owner.acceptsSends()) {
            replyError(connection, correlationId, StatusCode.INTERNAL, "handler.failed",
                    describe((RuntimeException) failure));
        }
    }

    /** A failure of the listener's {@code callback} that happened off the loop; reported as one on the loop is. */
    void reportFailure(Connection connection, String callback, Throwable failure) {
        report(connection, callback, failure);
    }

    /** Something for the transport's error handler that is no listener's failure (an overload, say). */
    void reportError(Throwable failure) {
        loop.reportError(failure);
    }

    /**
     * Best effort, from any thread: an ERROR reply. Loop work never waits (a full ring leaves the answer to the
     * caller's deadline); any other thread waits at most {@code sendTimeoutMs}, and a connection that has
     * closed or stays full gets none.
     */
    void replyError(Connection connection, long correlationId, StatusCode code, String reason, String message) {
        if (!owner.acceptsSends()) {
            return;
        }
        if (loop.inLoop()) {
            owner.tryReplyError(correlationId, errorPayload(code, reason, message));
            return;
        }
        try {
            connection.respondError(correlationId, code, reason, message);
        } catch (StatusException e) {
            // Closed meanwhile, or the peer stopped reading: nobody is left to tell, and its deadline answers it.
        }
    }

    void onClose(Connection connection, CloseReason reason) {
        try {
            listener.onClose(connection, reason);
        } catch (RuntimeException | Error e) {
            report(connection, "onClose", e);
        }
    }

    private String describe(RuntimeException e) {
        if (!exposeHandlerErrors) {
            return "the handler failed";
        }
        return "the handler failed: " + e.getClass().getName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    }

    private void report(Connection connection, String callback, Throwable failure) {
        loop.reportError(new ListenerException("the listener of " + connection + " threw from " + callback,
                failure));
    }

    static UnsafeBuffer errorPayload(StatusCode code, String reason, String message) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[ErrorPayload.encodedLength(reason, message)]);
        ErrorPayload.encode(payload, 0, code, reason, message);
        return payload;
    }

    /** What the error handler receives for a listener's failure: which connection and callback, and why. */
    static final class ListenerException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ListenerException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
