package dev.capwire.transport;

import dev.capwire.bindings.NativeSocket;
import java.util.function.Consumer;

/**
 * One connection's socket changing owner, on this side of the move. Loop work only.
 *
 * <p>Letting go ({@link Connection#detach}): a broker hands a checked client's socket to the backend that serves
 * it. The frames still undelivered belong to the new owner, so from the detach on they are kept as the bytes they
 * arrived as; once the read in progress has returned, the loop stops watching the socket and the connection
 * closes without writing to it, since anything written would reach the peer the new owner now talks to.
 *
 * <p>Taking over: a connection adopted inside another connection's read (a backend adopting the client a broker
 * just handed it) finds the loop's receive buffer lent out, and reads as soon as that read has returned.
 */
final class SocketHandOff {
    private final EventLoop loop;
    private final NativeSocket socket;
    private final InboundPath inbound;
    private final OutboundPath outbound;
    private final CloseSequence closing;
    private final LoopRegistration registration;
    /** Whom a detach asked for during the current read hands the socket to; null when none was. */
    private Consumer<DetachedSocket> detaching;

    SocketHandOff(EventLoop loop, NativeSocket socket, InboundPath inbound, OutboundPath outbound,
            CloseSequence closing, LoopRegistration registration) {
        this.loop = loop;
        this.socket = socket;
        this.inbound = inbound;
        this.outbound = outbound;
        this.closing = closing;
        this.registration = registration;
    }

    /** See {@link Connection#detach}. */
    void detach(Consumer<DetachedSocket> then) {
        inbound.keepFramesUnread();
        detaching = then;
        // Finished once the read that delivered the current frame has returned (every read is followed by
        // finishDetach), so the frames the decoder still holds from it are kept, not dispatched, and the hand-off
        // does not wait a loop pass. The timer due now covers a detach asked for outside a read.
        loop.timers().schedule(loop.clock().nanoTime(), timer -> finishDetach());
    }

    /** Completes a detach asked for since the last call, if any. Called after every read. */
    void finishDetach() {
        Consumer<DetachedSocket> then = detaching;
        if (then == null) {
            return;
        }
        detaching = null;
        if (closing.state() != ConnectionState.OPEN) {
            then.accept(null);
            return;
        }
        byte[] unread = inbound.unreadBytes();
        registration.deregister();
        closing.detach(new CloseReason(CloseReason.Kind.LOCAL_CLOSE, "detached: the socket was handed over"));
        then.accept(new DetachedSocket(socket, unread));
    }

    /**
     * The loop's receive buffer was lent out (this connection was adopted from another one's listener, as a
     * backend adopts a broker's client inside the Handoff's read): read as soon as that read has returned, in
     * this same duty cycle (a timer due now), and send the answers at once. The poller would report bytes in the
     * socket only on the next cycle, and never the seed, which is not in the socket; a handed-off client that
     * sent its first call early is answered without waiting for either.
     */
    void readWhenBufferFree() {
        loop.timers().schedule(loop.clock().nanoTime(), timer -> {
            if (closing.state() == ConnectionState.CLOSED) {
                return;
            }
            if (!inbound.readIn(false)) {
                readWhenBufferFree();
                return;
            }
            outbound.writeOut();
        });
    }
}
