package dev.capwire.transport;

/**
 * Receives the outcome of one request sent with
 * {@link Connection#request(int, int, org.agrona.DirectBuffer, int, int, long, ReplyHandler, dev.capwire.bindings.FileDescriptor...)}:
 * exactly one of the two methods is called once, as loop work, unless the request was cancelled with
 * {@link Connection#cancelRequest(long)} first. One handler may serve many requests (the correlation id tells
 * them apart), so a caller that keeps many requests in flight needs no object per request.
 *
 * <p>Both run on the event loop: keep them short, and hand slow work to another thread. A handler that throws
 * is reported to the transport's error handler; an {@link Error} closes this connection only.
 */
public interface ReplyHandler {
    /**
     * A RESPONSE arrived. {@code reply} is a view over the receive buffer, valid only during this call: copy
     * what you keep. Its fds are yours once you {@link InboundFrame#takeFds() take} them; those not taken are
     * closed when this returns.
     */
    void onReply(long correlationId, InboundFrame reply);

    /**
     * The request failed: the peer's ERROR (its status, reason and message), DEADLINE_EXCEEDED when no reply
     * came in time (the peer was sent CANCEL), or UNAVAILABLE when the connection closed first, naming why.
     */
    void onFailure(long correlationId, StatusException failure);
}
