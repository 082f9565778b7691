package dev.capwire.transport;

/**
 * Callbacks for one connection's life, run as its event loop's work: on the loop's thread, or on an
 * application thread that opened or closed the connection while the loop was idle (see {@link EventLoop}),
 * never two at once for one loop. Keep them short and never block in them (hand slow work to another thread
 * and reply from there; {@link Connection}'s send methods are safe from any thread), or wrap the listener
 * with {@link #onExecutor} so that its frames are handled off the loop.
 */
public interface FrameListener {
    /**
     * {@code listener} with its frames (and its onClose) run on {@code executor}, in order per connection,
     * bounded; see {@link OffLoopListener} for what stays on the loop and what happens past the bounds.
     */
    static OffLoopListener onExecutor(java.util.concurrent.Executor executor, FrameListener listener) {
        return OffLoopListener.builder(listener).executor(executor).build();
    }

    /** {@link #onExecutor(java.util.concurrent.Executor, FrameListener)} on {@link OffLoopListener#defaultExecutor()}. */
    static OffLoopListener offLoop(FrameListener listener) {
        return OffLoopListener.builder(listener).build();
    }

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
