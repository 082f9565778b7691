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
                owner.tryReplyError(frame.correlationId(), errorPayload(StatusCode.INTERNAL, describe(e)));
            }
        } catch (Error e) {
            report(connection, "onFrame", e);
            owner.closeNow(new CloseReason(CloseReason.Kind.LOCAL_ABORT,
                    "the listener failed with " + e));
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

    static UnsafeBuffer errorPayload(StatusCode code, String message) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[ErrorPayload.encodedLength(message)]);
        ErrorPayload.encode(payload, 0, code, message);
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
