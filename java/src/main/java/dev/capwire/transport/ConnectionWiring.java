package dev.capwire.transport;

import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.wire.ClaimedFds;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAwayReason;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Builds one connection's parts and carries what each reports to the part that acts on it. A part never names
 * {@link Connection} or its siblings: it states what it needs in its own {@code Owner} interface ({@link
 * Keepalive.Peer} for keepalive), and this one class implements them all, so each part can be read on its own
 * and the routing between them can be read in one place. Package-private, so none of it becomes public API.
 *
 * <p>{@link Connection} keeps its own final references to the parts it calls, so its methods reach a part in one
 * step, as they did when it built the parts itself. The parts reach each other through this class with the same
 * calls as through the inner class it was before; each {@code Owner} interface has this one implementation.
 */
final class ConnectionWiring implements OutboundPath.Owner, InboundPath.Owner, CloseSequence.Owner,
        RequestTable.Owner, Keepalive.Peer, ListenerGuard.Owner {
    final ListenerGuard guard;
    final RequestTable requests;
    final Keepalive keepalive;
    final OutboundLimits limits;
    final OutboundRing ring;
    final OutboundPath outbound;
    final MessageSender messages;
    final InboundPath inbound;
    final LoopRegistration registration;
    final CloseSequence closing;
    final SocketHandOff handOff;
    final RequestSender requestSender;
    private final Connection connection;
    private final UnsafeBuffer ping = new UnsafeBuffer(new byte[InboundPath.PING_PAYLOAD_LENGTH]);

    /** {@code fd}: the socket's number, whose use {@code connection} holds for its life. */
    ConnectionWiring(Connection connection, EventLoop loop, TransportOptions options, FrameListener listener,
            NativeSocket socket, long fd, boolean unix) {
        this.connection = connection;
        this.guard = new ListenerGuard(listener, this, loop, options.exposeHandlerErrors());
        this.requests = new RequestTable(loop, options.maxInFlight(), this, connection);
        this.keepalive = new Keepalive(loop, this);
        this.limits = new OutboundLimits(options);
        this.ring = new OutboundRing(connection, loop, limits);
        this.outbound = new OutboundPath(this, connection, loop, fd, unix, options, ring);
        this.messages = new MessageSender(outbound, ring, limits, loop, unix, options.maxMessageBytes());
        this.inbound = new InboundPath(this, loop, fd, unix, options);
        this.registration = new LoopRegistration(loop, connection, fd, inbound, outbound.writeInterest());
        this.closing = new CloseSequence(this, connection, outbound, inbound, requests, keepalive, loop, socket.fd(),
                fd, unix, options.closeTimeoutMs());
        this.handOff = new SocketHandOff(loop, socket, inbound, outbound, closing, registration);
        this.requestSender = new RequestSender(closing, requests, messages, loop, options.maxInFlight(), connection);
    }

    @Override
    public ConnectionState state() {
        return closing.state();
    }

    @Override
    public boolean acceptsSends() {
        return closing.state().acceptsSends();
    }

    @Override
    public StatusException unavailable() {
        return closing.unavailable();
    }

    @Override
    public void beforeWrite() {
        requests.noticeNewDeadlines();
    }

    @Override
    public void writeFailed(CloseReason reason) {
        closing.closeNow(reason);
    }

    @Override
    public void allSent() {
        closing.onAllSent();
    }

    @Override
    public void backlogChanged(boolean overHighWater) {
        inbound.pause(overHighWater);
        writeInterestChanged();
    }

    @Override
    public void writeInterestChanged() {
        try {
            registration.interestChanged();
        } catch (NativeIoException e) {
            closing.closeNow(new CloseReason(CloseReason.Kind.IO_ERROR, e.getMessage()));
        }
    }

    @Override
    public void protocolError(GoAwayReason reason, String message) {
        closing.protocolError(reason, message);
    }

    @Override
    public void readFailed(CloseReason reason) {
        closing.onReadFailed(reason);
    }

    @Override
    public void endOfStream() {
        closing.onEndOfStream();
    }

    @Override
    public void received() {
        keepalive.onReceived();
    }

    @Override
    public void reply(byte type, long correlationId, DirectBuffer buffer, int offset, int length,
            ClaimedFds fds) {
        requests.complete(type, correlationId, buffer, offset, length, fds);
    }

    @Override
    public void pong(long correlationId, DirectBuffer buffer, int offset, int length) {
        if (closing.state().acceptsSends()) {
            outbound.sendControl(FrameType.PONG, correlationId, buffer, offset, length);
        }
    }

    @Override
    public void goAway(DirectBuffer buffer, int offset, int length) {
        closing.onGoAway(buffer, offset, length);
    }

    @Override
    public void frame(InboundFrame frame) {
        guard.onFrame(connection, frame);
    }

    @Override
    public void tryReplyError(long correlationId, UnsafeBuffer errorPayload) {
        outbound.sendControl(FrameType.ERROR, correlationId, errorPayload, 0, errorPayload.capacity());
    }

    @Override
    public void closeNow(CloseReason reason) {
        closing.closeNow(reason);
    }

    @Override
    public void forget() {
        registration.forget();
    }

    @Override
    public void closed(CloseReason reason) {
        guard.onClose(connection, reason);
    }

    @Override
    public void sendCancel(long correlationId, boolean throughRing) {
        // Tell the peer to stop working on a request nobody waits for; a full ring means it finishes in vain.
        if (closing.state().acceptsSends()) {
            outbound.sendCancel(correlationId, throughRing);
        }
    }

    @Override
    public void replyHandlerFailed(Throwable failure) {
        guard.replyHandlerFailed(connection, failure);
    }

    @Override
    public boolean isOpen() {
        return closing.state().acceptsSends();
    }

    @Override
    public void sendPing(long stamp) {
        ping.putLong(0, stamp);
        outbound.sendControl(FrameType.PING, 0, ping, 0, ping.capacity());
    }

    @Override
    public void declareUnresponsive(String why) {
        closing.idleTimeout(why);
    }
}
