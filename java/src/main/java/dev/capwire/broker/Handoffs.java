package dev.capwire.broker;

import dev.capwire.Configuration;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.transport.DetachedSocket;
import dev.capwire.wire.proto.BrokerMessage;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.Handoff;
import dev.capwire.wire.proto.HandoffAck;
import dev.capwire.wire.proto.HandoffConfirmed;
import dev.capwire.wire.proto.HandoffDeclined;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.HelloReply;
import dev.capwire.wire.proto.Negotiated;
import dev.capwire.wire.proto.PeerIdentity;
import com.google.protobuf.ByteString;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Hand-offs from the moment a client's connection has let go of its socket to the moment the backend holds it,
 * or the client is sent to the backend's own address (docs/wire-protocol.md, "Broker"). The broker writes the
 * Negotiated reply itself, sends the socket with a token, and keeps its own copy until the backend's
 * acknowledgement is confirmed; an acknowledgement that does not come in time, a decline, or a backend that goes
 * away abandons the hand-off with a GOAWAY HANDOFF_ABANDONED to the client.
 */
final class Handoffs implements AutoCloseable {
    /** One hand-off in flight; its token is taken once, by whichever of acknowledgement and abandonment wins. */
    static final class Pending {
        final byte[] token;
        final String service;
        final Registration backend;
        final long clientPid;
        final long helloNanos;
        final DetachedSocket socket;
        volatile ScheduledFuture<?> expiry;

        Pending(byte[] token, String service, Registration backend, long clientPid, long helloNanos,
                DetachedSocket socket) {
            this.token = token;
            this.service = service;
            this.backend = backend;
            this.clientPid = clientPid;
            this.helloNanos = helloNanos;
            this.socket = socket;
        }
    }

    private final Tokens<Pending> tokens = new Tokens<>();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(task -> {
        Thread thread = new Thread(task, "capwire-broker-timer");
        thread.setDaemon(true);
        return thread;
    });
    private final long ackMs;
    private final long sendTimeoutMs;
    private final Events events;

    Handoffs(long ackMs, long sendTimeoutMs, Events events) {
        this.ackMs = ackMs;
        this.sendTimeoutMs = sendTimeoutMs;
        this.events = events;
    }

    byte[] issueToken() {
        return tokens.issue();
    }

    /**
     * The client's loop, once its connection let go of the socket ({@code socket} null: it closed first).
     * Negotiated goes to the client before the socket goes to the backend, so it always precedes the backend's
     * first frame on the stream.
     */
    void deliver(DetachedSocket socket, byte[] token, Negotiated negotiated, Hello hello, PeerCredentials client,
            Registration backend, long helloNanos) {
        String service = hello.getServiceName();
        long pid = client != null ? client.pid().orElse(-1) : -1;
        if (socket == null) {
            events.fallback(service, pid, "the client closed before its hand-off");
            return;
        }
        if (!BrokerFrames.writeReply(socket.socket(), HelloReply.newBuilder().setNegotiated(negotiated).build())) {
            socket.close();
            events.fallback(service, pid, "the client's socket took no Negotiated");
            return;
        }
        Pending pending = new Pending(token, service, backend, pid, helloNanos, socket);
        tokens.hold(token, pending);
        pending.expiry = timer.schedule(() -> abandon(pending, "the backend did not acknowledge the hand-off within "
                + ackMs + " ms (" + Configuration.BROKER_HANDOFF_ACK_MS_PROP_NAME + ")", "expired"), ackMs,
                TimeUnit.MILLISECONDS);
        Handoff.Builder handoff = Handoff.newBuilder()
                .setToken(ByteString.copyFrom(token))
                .setServiceName(service)
                .setNegotiated(negotiated)
                .setClient(identity(client))
                .setUnread(ByteString.copyFrom(socket.unread()))
                .setHello(hello);
        if (!BrokerFrames.send(backend.connection, BrokerMessage.newBuilder().setHandoff(handoff).build(),
                sendTimeoutMs, socket.socket().fd())) {
            abandon(pending, "the backend's registration connection took no hand-off", "revoked");
        }
    }

    /** A backend's acknowledgement: confirmed when its token is pending, for this backend and service. */
    void acknowledged(Registration from, HandoffAck ack) {
        byte[] token = ack.getToken().toByteArray();
        Pending pending = tokens.peek(token);
        String refusal;
        if (pending == null) {
            refusal = tokens.whyNotPending(token);
        } else if (pending.backend != from) {
            refusal = "token issued to another backend";
        } else if (!pending.service.equals(ack.getServiceName())) {
            refusal = "token issued for service '" + pending.service + "', not '" + ack.getServiceName() + "'";
        } else if (!tokens.take(token, pending, "used")) {
            refusal = tokens.whyNotPending(token); // expired or abandoned a moment ago
        } else {
            refusal = null;
        }
        if (refusal != null) {
            confirm(from, token, false, refusal);
            events.tokenRefused(from.pid, refusal);
            return;
        }
        cancelExpiry(pending);
        confirm(from, token, true, "");
        pending.socket.close(); // only now: the backend holds the socket, and the broker's copy goes
        long elapsed = System.nanoTime() - pending.helloNanos;
        events.handedOff(pending.service, pending.clientPid, elapsed);
    }

    void declined(Registration from, HandoffDeclined declined) {
        Pending pending = tokens.peek(declined.getToken().toByteArray());
        if (pending != null && pending.backend == from) {
            abandon(pending, "the backend declined the hand-off: " + declined.getReason(), "declined");
        }
    }

    /** The backend's registration connection closed: whatever it was being handed falls back. */
    void backendGone(Registration backend) {
        for (Pending pending : snapshot()) {
            if (pending.backend == backend) {
                abandon(pending, "the backend's registration connection closed", "revoked");
            }
        }
    }

    int pendingCount() {
        return tokens.pendingCount();
    }

    /** Abandons what is in flight and stops the timer. */
    @Override
    public void close() {
        for (Pending pending : snapshot()) {
            abandon(pending, "the broker is stopping", "revoked");
        }
        timer.shutdownNow();
    }

    private List<Pending> snapshot() {
        List<Pending> all = new ArrayList<>();
        tokens.pendingHandoffs().forEach(all::add);
        return all;
    }

    private void abandon(Pending pending, String why, String spentAs) {
        if (!tokens.take(pending.token, pending, spentAs)) {
            return; // acknowledged or abandoned already
        }
        cancelExpiry(pending);
        BrokerFrames.writeGoAway(pending.socket.socket(), GoAwayReason.HANDOFF_ABANDONED, why
                + "; connect to backend_address " + pending.backend.backendAddress);
        pending.socket.close();
        events.fallback(pending.service, pending.clientPid, why);
    }

    private static void cancelExpiry(Pending pending) {
        ScheduledFuture<?> expiry = pending.expiry;
        if (expiry != null) {
            expiry.cancel(false);
        }
    }

    private void confirm(Registration to, byte[] token, boolean accepted, String reason) {
        BrokerFrames.send(to.connection, BrokerMessage.newBuilder().setHandoffConfirmed(HandoffConfirmed.newBuilder()
                .setToken(ByteString.copyFrom(token)).setAccepted(accepted).setReason(reason)).build(), sendTimeoutMs);
    }

    private static PeerIdentity identity(PeerCredentials credentials) {
        if (credentials == null) {
            return PeerIdentity.newBuilder().setPid(-1).setUid(-1).setGid(-1).build();
        }
        return PeerIdentity.newBuilder().setPid(credentials.pid().orElse(-1)).setUid(credentials.uid().orElse(-1))
                .setGid(credentials.gid().orElse(-1)).build();
    }
}
