package dev.capwire.transport;

/**
 * Callbacks for one connection's life, run on its event-loop thread: keep them short and never block in
 * them (hand slow work to another thread and reply from there; {@link Connection}'s send methods are safe
 * from any thread).
 */
public interface FrameListener {
    /** The connection is registered and ready; frames may be sent. */
    default void onOpen(Connection connection) {
    }

    /**
     * A REQUEST, NOTIFY or CANCEL frame (replies to this side's own requests complete their futures instead).
     * The frame is a view valid only during this call.
     */
    void onFrame(Connection connection, InboundFrame frame);

    /** The connection has ended; called exactly once. */
    default void onClose(Connection connection, CloseReason reason) {
    }
}
