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
import java.util.concurrent.TimeUnit;

/**
 * Hand-offs from the moment a client's connection has let go of its socket to the moment the backend holds it,
 * or the client is sent to the backend's own address (docs/wire-protocol.md, "Broker"). The broker writes the
 * Negotiated reply itself, sends the socket with a token, and keeps its own copy until the backend's
 * acknowledgement. The backend takes over without waiting for an answer, so once the socket has left the broker
 * writes on it only when the backend said it will not (a decline): an acknowledgement that does not come in
 * time, or a backend that goes away, abandons the hand-off with a shutdown of the socket instead, which ends
 * the stream for the client (and for a backend that took it after all) without a second writer on it.
 */
final class Handoffs implements AutoCloseable {
    /** One hand-off in flight; its token is taken once, by whichever of acknowledgement and abandonment wins. */
    static final class Pending {
        final byte[] token;
        final String service;
        final Registration backend;
        /** What the backend's count of hand-offs said as this one was counted (see Registration#handedOff). */
        final long countedAt;
        final long clientPid;
        final long helloNanos;
        final DetachedSocket socket;
        /** When the acknowledgement is overdue (System.nanoTime). */
        final long deadlineNanos;

        Pending(byte[] token, String service, Registration backend, long countedAt, long clientPid, long helloNanos,
                DetachedSocket socket, long deadlineNanos) {
            this.token = token;
            this.service = service;
            this.backend = backend;
            this.countedAt = countedAt;
            this.clientPid = clientPid;
            this.helloNanos = helloNanos;
            this.socket = socket;
            this.deadlineNanos = deadlineNanos;
        }
    }

    private final Tokens<Pending> tokens = new Tokens<>();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(task -> {
        Thread thread = new Thread(task, "capwire-broker-timer");
        thread.setDaemon(true);
        return thread;
    });
    private final long ackMs;
    private final Events events;
    /**
     * Set by {@link #close()} before it abandons what is pending: a hand-off delivered after that (a client whose
     * Hello was being checked on its loop as the broker closed) is abandoned at once, since no sweep will expire it.
     */
    private volatile boolean closed;

    Handoffs(long ackMs, Events events) {
        this.ackMs = ackMs;
        this.events = events;
        // One sweep at a fixed rate rather than a timer task per hand-off: scheduling and cancelling a task signals
        // the timer thread each time, two thread wake-ups per hand-off on the hand-off's own path. An overdue
        // hand-off is abandoned at most a sweep period (an eighth of the deadline) late.
        long periodMs = Math.max(1, Math.min(250, ackMs / 8));
        timer.scheduleAtFixedRate(this::abandonOverdue, periodMs, periodMs, TimeUnit.MILLISECONDS);
    }

    /** The timer thread: abandons every hand-off whose acknowledgement is overdue. */
    private void abandonOverdue() {
        long now = System.nanoTime();
        for (Pending pending : snapshot()) {
            if (now - pending.deadlineNanos >= 0) {
                abandon(pending, "the backend did not acknowledge the hand-off within " + ackMs + " ms ("
                        + Configuration.BROKER_HANDOFF_ACK_MS_PROP_NAME + ")", "expired", Ending.SHUTDOWN);
            }
        }
    }

    byte[] issueToken() {
        return tokens.issue();
    }

    /**
     * The client's loop, once its connection let go of the socket ({@code socket} null: it closed first).
     * Negotiated goes to the client before the socket goes to the backend, so it always precedes the backend's
     * first frame on the stream. {@code countedAt}: what {@link Registration#handedOff} returned as the hand-off
     * was counted against {@code backend}'s load; every way it falls back uncounts it.
     */
    void deliver(DetachedSocket socket, byte[] token, Negotiated negotiated, Hello hello, PeerCredentials client,
            Registration backend, long countedAt, long helloNanos) {
        String service = hello.getServiceName();
        long pid = client != null ? client.pid().orElse(-1) : -1;
        if (socket == null) {
            backend.handOffFellBack(countedAt);
            events.fallback(service, pid, "the client closed before its hand-off");
            return;
        }
        if (!BrokerFrames.writeReply(socket.socket(), HelloReply.newBuilder().setNegotiated(negotiated).build())) {
            socket.close();
            backend.handOffFellBack(countedAt);
            events.fallback(service, pid, "the client's socket took no Negotiated");
            return;
        }
        Pending pending = new Pending(token, service, backend, countedAt, pid, helloNanos, socket,
                System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ackMs));
        tokens.hold(token, pending);
        if (closed) {
            // Held before this check and close() sets the flag before it looks at what is held, so either it
            // abandons this one or we do; the token is taken once. The backend never had the socket: GOAWAY.
            abandon(pending, "the broker is stopping", "revoked", Ending.GOAWAY);
            return;
        }
        Handoff.Builder handoff = Handoff.newBuilder()
                .setToken(ByteString.copyFrom(token))
                .setServiceName(service)
                .setNegotiated(negotiated)
                .setClient(identity(client))
                .setUnread(ByteString.copyFrom(socket.unread()))
                .setHello(hello);
        // No wait for room: this is the client's loop, not the registration connection's, and a wait would hold
        // every connection on it. A queue with no room now is a backend that is not reading its registration
        // connection, which would not take the client over in time anyway.
        if (!BrokerFrames.send(backend.connection, BrokerMessage.newBuilder().setHandoff(handoff).build(), 0,
                socket.socket().fd())) {
            abandon(pending, "the backend's registration connection took no hand-off (closed, or its queue full:"
                    + " the backend is not reading it)", "revoked", Ending.GOAWAY);
        }
    }

    /**
     * A backend's acknowledgement: it holds the socket and has taken the client over. Accepted when its token is
     * pending, for this backend and service (the broker then closes its copy, and answers nothing); otherwise
     * answered with a HandoffConfirmed that says why not.
     */
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
            refuse(from, token, refusal);
            events.tokenRefused(from.pid, refusal);
            return;
        }
        pending.socket.close(); // only now: the backend holds the socket, and the broker's copy goes
        long elapsed = System.nanoTime() - pending.helloNanos;
        events.handedOff(pending.service, pending.clientPid, elapsed);
    }

    void declined(Registration from, HandoffDeclined declined) {
        Pending pending = tokens.peek(declined.getToken().toByteArray());
        if (pending != null && pending.backend == from) {
            // The backend closed its copy without writing: the broker is the socket's one writer again.
            abandon(pending, "the backend declined the hand-off: " + declined.getReason(), "declined", Ending.GOAWAY);
        }
    }

    /** The backend's registration connection closed: whatever it was being handed falls back. */
    void backendGone(Registration backend) {
        for (Pending pending : snapshot()) {
            if (pending.backend == backend) {
                abandon(pending, "the backend's registration connection closed", "revoked", Ending.SHUTDOWN);
            }
        }
    }

    int pendingCount() {
        return tokens.pendingCount();
    }

    /** Abandons what is in flight and stops the timer. */
    @Override
    public void close() {
        closed = true;
        for (Pending pending : snapshot()) {
            abandon(pending, "the broker is stopping", "revoked", Ending.SHUTDOWN);
        }
        timer.shutdownNow();
    }

    private List<Pending> snapshot() {
        List<Pending> all = new ArrayList<>();
        tokens.pendingHandoffs().forEach(all::add);
        return all;
    }

    /** How an abandoned hand-off ends for the client, who then goes to the backend address. */
    private enum Ending {
        /** The backend never had the socket, or declined it: the broker may write, and says why. */
        GOAWAY,
        /**
         * The backend may have taken the client over: no write (it would be a second writer after the backend's
         * frames), but a shutdown, which ends the stream for every holder of the socket. A client still waiting
         * for the takeover frame reads the end of the stream; a backend that took it over sees its writes fail.
         */
        SHUTDOWN
    }

    private void abandon(Pending pending, String why, String spentAs, Ending ending) {
        if (!tokens.take(pending.token, pending, spentAs)) {
            return; // acknowledged or abandoned already
        }
        // Before the client hears of it: it may come straight back through this broker.
        pending.backend.handOffFellBack(pending.countedAt);
        if (ending == Ending.GOAWAY) {
            BrokerFrames.writeGoAway(pending.socket.socket(), GoAwayReason.HANDOFF_ABANDONED, why
                    + "; connect to backend_address " + pending.backend.backendAddress);
        } else {
            BrokerFrames.shutdown(pending.socket.socket());
        }
        pending.socket.close();
        events.fallback(pending.service, pending.clientPid, why);
    }

    /** On the registration connection's own loop (the acknowledgement's), where a send is staged, never waited for. */
    private void refuse(Registration to, byte[] token, String reason) {
        BrokerFrames.send(to.connection, BrokerMessage.newBuilder().setHandoffConfirmed(HandoffConfirmed.newBuilder()
                .setToken(ByteString.copyFrom(token)).setAccepted(false).setReason(reason)).build(), 0);
    }

    private static PeerIdentity identity(PeerCredentials credentials) {
        if (credentials == null) {
            return PeerIdentity.newBuilder().setPid(-1).setUid(-1).setGid(-1).build();
        }
        return PeerIdentity.newBuilder().setPid(credentials.pid().orElse(-1)).setUid(credentials.uid().orElse(-1))
                .setGid(credentials.gid().orElse(-1)).build();
    }
}
