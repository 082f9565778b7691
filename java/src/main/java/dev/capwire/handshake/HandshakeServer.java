package dev.capwire.handshake;

import dev.capwire.Configuration;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.transport.AttributeKey;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.InboundGate;
import dev.capwire.transport.Server;
import dev.capwire.transport.Transport;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.Challenge;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.HelloReply;
import dev.capwire.wire.proto.Negotiated;
import dev.capwire.wire.proto.Refused;
import dev.capwire.wire.proto.RefusedCode;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The server side of the Hello handshake: it listens for connections, holds each one behind the handshake
 * gate until its Hello passes every check, then hands it to the service it asked for.
 *
 * <p>The checks run in this order, and the first that fails decides the Refused code (docs/wire-protocol.md,
 * "Handshake"): protocol range, field shapes, per-peer rate limit, connection limits, service, version
 * policy, claimed pid, peer policy, shared secret. The cheap checks that need no state come first, so a
 * flood of bad Hellos costs little; the secret comes last, because it needs a second round trip.
 *
 * <pre>{@code
 * HandshakeServer server = HandshakeServer.builder(transport)
 *         .service(Service.builder("echo", "1.0.0", echoListener).build())
 *         .build();
 * server.listen(Endpoint.parse("unix:/run/app/echo.sock"));
 * }</pre>
 */
public final class HandshakeServer implements AutoCloseable {
    /** The protocol versions this implementation speaks. */
    public static final int PROTOCOL_VERSION_MIN = 1;
    public static final int PROTOCOL_VERSION_MAX = 1;
    public static final int NONCE_LENGTH = 32;
    static final int MAX_VERSION_BYTES = 128;
    static final int MAX_LIBRARY_FIELD_BYTES = 64;
    /** The smallest max frame size a peer may declare: a header and a useful payload. */
    static final int MIN_FRAME_BYTES = 256;

    private final Transport transport;
    private final Map<String, Service> services;
    private final SharedSecret secret;
    private final boolean allowUnauthenticatedTcp;
    /** The checks every first Hello goes through; shared with the broker (one implementation). */
    private final HelloChecks checks;
    private final int minProtocol;
    private final int maxProtocol;
    private final long handshakeTimeoutMs;
    /**
     * Until a connection is negotiated, only HELLO (and GOAWAY) may reach the server; anything else, a
     * fragment, or silence past the timeout ends it with HANDSHAKE_FAILED.
     */
    private final InboundGate handshakeGate;
    private final int keepaliveMaxMissed;
    private final ConnectionCounts connections;
    private final HandshakeSlots handshakeSlots;
    private final HandshakeListener listener;
    private final SecureRandom random = new SecureRandom();
    private final List<Server> servers = new ArrayList<>();

    private HandshakeServer(Builder b) {
        if (b.services.isEmpty()) {
            throw new IllegalArgumentException("a server needs at least one service");
        }
        if (b.minProtocol < 1 || b.maxProtocol < b.minProtocol) {
            throw new IllegalArgumentException("protocol range [" + b.minProtocol + ", " + b.maxProtocol + "] is empty");
        }
        this.transport = b.transport;
        this.services = Map.copyOf(b.services);
        this.secret = b.secret;
        this.allowUnauthenticatedTcp = b.allowUnauthenticatedTcp;
        this.minProtocol = b.minProtocol;
        this.maxProtocol = b.maxProtocol;
        this.handshakeTimeoutMs = b.handshakeTimeoutMs;
        this.handshakeGate = new InboundGate("handshake", GoAwayReason.HANDSHAKE_FAILED, handshakeTimeoutMs,
                FrameType.HELLO, FrameType.HELLO_REPLY);
        this.keepaliveMaxMissed = b.keepaliveMaxMissed;
        this.connections = new ConnectionCounts(b.maxConnections, b.maxConnectionsPerUid);
        this.handshakeSlots = new HandshakeSlots(b.maxHandshaking, b.maxHandshakingPerPeer);
        this.listener = b.listener;
        this.checks = new HelloChecks(b.transport, b.minProtocol, b.maxProtocol, b.policy, b.capabilities,
                b.helloRateLimit, b.keepaliveIntervalMs, b.keepaliveMinIntervalMs);
    }

    public static Builder builder(Transport transport) {
        return new Builder(transport);
    }

    /**
     * Listens on {@code endpoint}. A TCP endpoint needs the shared secret (the kernel vouches for nobody
     * there) unless {@link Builder#allowUnauthenticatedTcp()} was chosen.
     */
    public Server listen(Endpoint endpoint) throws NativeIoException {
        checkAuthenticated(endpoint);
        Server server = transport.listen(endpoint, new Gate());
        synchronized (servers) {
            servers.add(server);
        }
        return server;
    }

    /** The services this server hosts, in the order they were defined (what a backend registers with a broker). */
    public java.util.Collection<Service> services() {
        return services.values();
    }

    /** Whether this server serves a service of that name (one map look-up, for each hand-off a broker makes). */
    public boolean serves(String serviceName) {
        return services.containsKey(serviceName);
    }

    /**
     * Takes over a client connection a broker negotiated and handed to this process (its socket came over the
     * registration connection): the connection is open for calls at once, as if this server had run the
     * handshake itself. The first frame on it is this server's HELLO_REPLY repeating {@code negotiated}
     * (docs/wire-protocol.md, "Broker"), which tells the client the backend has taken over; then the frames in
     * {@code unread}, which the broker read past the Hello, reach the service as if read here.
     *
     * @throws IllegalArgumentException when this server has no service {@code serviceName}
     */
    public Connection adoptHandedOff(Endpoint endpoint, NativeSocket socket, byte[] unread, String serviceName,
            Negotiated negotiated, Hello hello) throws NativeIoException {
        Service service = services.get(serviceName);
        if (service == null) {
            throw new IllegalArgumentException("no service named '" + serviceName + "' here");
        }
        return transport.adopt(endpoint, socket, unread, new HandedOff(service, negotiated, hello));
    }

    /**
     * Serves on a socket a service manager already bound and passed to this process (socket activation, see
     * {@link dev.capwire.transport.InheritedSockets}); the TCP rule of {@link #listen(Endpoint)} holds here too.
     */
    public Server listen(NativeSocket listening) throws NativeIoException {
        Server server = transport.listen(listening, new Gate());
        try {
            checkAuthenticated(server.endpoint());
        } catch (IllegalStateException e) {
            server.close();
            throw e;
        }
        synchronized (servers) {
            servers.add(server);
        }
        return server;
    }

    /** The kernel vouches for nobody over TCP, so serving there without the shared secret must be asked for. */
    private void checkAuthenticated(Endpoint endpoint) {
        if (!endpoint.isUnix() && secret == null && !allowUnauthenticatedTcp) {
            throw new IllegalStateException("refusing to serve " + endpoint + " over TCP without a shared secret:"
                    + " configure one (capwire.secret.file) or call allowUnauthenticatedTcp()");
        }
    }

    /** Connections this server holds now, handshaking or negotiated. */
    public int connectionCount() {
        return connections.open();
    }

    /** Stops listening; connections already made stay open (close the transport to end them). */
    @Override
    public void close() {
        synchronized (servers) {
            servers.forEach(Server::close);
            servers.clear();
        }
    }

    // ---------------------------------------------------------------------------------------------------

    /**
     * The handshake's own state on each connection it serves, touched only as that connection's loop work; no
     * other layer can see or replace it.
     */
    private static final AttributeKey<Attempt> ATTEMPT = AttributeKey.create("capwire.handshake.attempt",
            Attempt.class);

    private static final class Attempt {
        final long openedNanos = System.nanoTime();
        final long uid;
        /** Whose handshake slots this attempt counts against; null when the peer is unknown. */
        final String peer;
        Hello firstHello;
        byte[] serverNonce;
        Service service;
        boolean negotiated;
        boolean reported;
        boolean holdsHandshakeSlot;

        Attempt(long uid, String peer) {
            this.uid = uid;
            this.peer = peer;
        }
    }

    /** The listener every accepted connection starts with: the gate in front of the services. */
    private class Gate implements FrameListener {
        @Override
        public void onOpen(Connection connection) {
            Attempt attempt = startAttempt(connection);
            String noSlot = takeHandshakeSlot(attempt);
            if (noSlot != null) {
                // No Hello has come yet to answer, so no Refused: closed like a full listen backlog.
                report(connection, attempt, HandshakeOutcome.Result.FAILED, null, "closed at once: " + noSlot);
                connection.abort();
                return;
            }
            connection.shutGate(handshakeGate);
        }

        @Override
        public void onFrame(Connection connection, InboundFrame frame) {
            Attempt attempt = connection.attribute(ATTEMPT);
            if (attempt.negotiated) {
                if (frame.type() == FrameType.HELLO || frame.type() == FrameType.HELLO_REPLY) {
                    connection.closeWithGoAway(GoAwayReason.PROTOCOL_ERROR,
                            FrameType.name(frame.type()) + " after the handshake completed");
                    return;
                }
                attempt.service.listener().onFrame(connection, frame);
                return;
            }
            if (attempt.reported) {
                return; // refused; the close is on its way
            }
            if (frame.type() != FrameType.HELLO) {
                fail(connection, attempt, FrameType.name(frame.type()) + " instead of a HELLO");
                return;
            }
            Hello hello;
            try {
                hello = Hello.parseFrom(frame.payloadBytes());
            } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                fail(connection, attempt, "the HELLO payload is not a Hello message");
                return;
            }
            try {
                if (attempt.firstHello == null) {
                    onHello(connection, attempt, hello);
                } else {
                    onProof(connection, attempt, hello);
                }
            } catch (RuntimeException e) {
                // A check that failed unexpectedly (a throwing PeerPolicy is refused by HelloChecks itself): refuse
                // rather than leave the client hanging.
                refuse(connection, attempt, hello, RefusedCode.INTERNAL, "the server failed while checking the Hello: "
                        + e.getClass().getSimpleName(), 0, Map.of());
            }
        }

        @Override
        public void onClose(Connection connection, CloseReason reason) {
            Attempt attempt = connection.attribute(ATTEMPT);
            releaseHandshakeSlot(attempt);
            connections.closed(attempt.uid);
            if (attempt.negotiated) {
                attempt.service.listener().onClose(connection, reason);
            } else if (!attempt.reported) {
                report(connection, attempt, HandshakeOutcome.Result.FAILED, null, "closed before the handshake"
                        + " completed: " + reason);
            }
        }
    }

    /** A connection a broker negotiated: it skips the gate and starts as the service's, negotiated. */
    private final class HandedOff extends Gate {
        private final Service service;
        private final Negotiated brokered;
        private final Hello hello;

        HandedOff(Service service, Negotiated brokered, Hello hello) {
            this.service = service;
            this.brokered = brokered;
            this.hello = hello;
        }

        @Override
        public void onOpen(Connection connection) {
            Attempt attempt = startAttempt(connection);
            attempt.service = service;
            attempt.firstHello = hello;
            // The broker's terms, with this server's own name for the connection.
            Negotiated negotiated = brokered.toBuilder().setConnectionId(connection.id()).clearBackendAddress().build();
            opened(connection, attempt, negotiated, "handed off by a broker: protocol "
                    + negotiated.getProtocolVersion() + " for service " + service.name());
        }
    }

    /** The attempt every connection starts with, counted against this server's limits until it closes. */
    private Attempt startAttempt(Connection connection) {
        PeerCredentials credentials = connection.peerCredentials();
        long uid = credentials != null && credentials.uid().isPresent() ? credentials.uid().getAsLong() : -1;
        Attempt attempt = new Attempt(uid, HandshakeSlots.peerOf(connection, uid));
        connection.setAttribute(ATTEMPT, attempt);
        connections.opened(uid);
        return attempt;
    }

    private void onHello(Connection connection, Attempt attempt, Hello hello) {
        HelloChecks.Refusal refusal = checks.check(connection, hello, services,
                () -> connections.refusal(attempt.uid));
        if (refusal != null) {
            refuse(connection, attempt, hello, refusal.code(), refusal.reason(), refusal.retryAfterMs(),
                    refusal.details());
            return;
        }
        Service service = services.get(hello.getServiceName());
        attempt.service = service;
        attempt.firstHello = hello;
        // 8. Shared secret: prove it against a fresh nonce (one more round trip), or we are done.
        if (secret != null) {
            attempt.serverNonce = new byte[NONCE_LENGTH];
            random.nextBytes(attempt.serverNonce);
            send(connection, HelloReply.newBuilder().setChallenge(Challenge.newBuilder()
                    .setServerNonce(com.google.protobuf.ByteString.copyFrom(attempt.serverNonce))).build());
            return;
        }
        accept(connection, attempt, hello, null);
    }

    /** The Hello that answers a Challenge: the same Hello, now with the proof. */
    private void onProof(Connection connection, Attempt attempt, Hello hello) {
        if (attempt.serverNonce == null) {
            fail(connection, attempt, "a second HELLO without a Challenge");
            return;
        }
        HelloChecks.Refusal refusal = HelloChecks.proofRefusal(attempt.firstHello, hello, attempt.serverNonce, secret);
        if (refusal != null) {
            refuse(connection, attempt, hello, refusal.code(), refusal.reason(), refusal.retryAfterMs(),
                    refusal.details());
            return;
        }
        accept(connection, attempt, hello, HelloChecks.serverProof(hello, attempt.serverNonce, secret));
    }

    private void accept(Connection connection, Attempt attempt, Hello hello, byte[] serverProof) {
        Negotiated.Builder negotiated = checks.negotiated(connection, hello, attempt.service);
        if (serverProof != null) {
            negotiated.setServerProof(com.google.protobuf.ByteString.copyFrom(serverProof));
        }
        opened(connection, attempt, negotiated.build(), "negotiated protocol " + negotiated.getProtocolVersion()
                + " for service " + attempt.service.name());
    }

    /** Sends {@code negotiated} and opens the connection for calls on its terms. */
    private void opened(Connection connection, Attempt attempt, Negotiated negotiated, String report) {
        if (!send(connection, HelloReply.newBuilder().setNegotiated(negotiated).build())) {
            return;
        }
        connection.limitFrameBytes(negotiated.getMaxFrameBytes());
        if (!Capabilities.has(negotiated.getCapabilities(), Capabilities.FD_PASSING)) {
            connection.refuseFds();
        }
        connection.openGate();
        long keepalive = HandshakeFields.unsigned(negotiated.getKeepaliveIntervalMs());
        if (keepalive > 0) {
            connection.startKeepalive(keepalive, keepaliveMaxMissed);
        }
        attempt.negotiated = true;
        releaseHandshakeSlot(attempt);
        report(connection, attempt, HandshakeOutcome.Result.ACCEPTED, null, report);
        openService(connection, attempt.service);
    }

    /**
     * The service's onOpen, failing as the transport's onOpen fails: reported, and the connection closed. Not left
     * to the caller: from a Hello's {@code onFrame} its exception would be taken for a failed check, answered
     * with a Refused after the Negotiated, and reported to nobody.
     */
    private void openService(Connection connection, Service service) {
        try {
            service.listener().onOpen(connection);
        } catch (RuntimeException | Error e) {
            ListenerFailure.report(transport, "the listener " + service.listener().getClass().getName()
                    + " of service '" + service.name() + "'.onOpen(" + connection + ")", e, "its connection is closed");
            connection.abort();
        }
    }

    /** Counts {@code attempt} among the handshakes in progress; or takes nothing and says why not. */
    private String takeHandshakeSlot(Attempt attempt) {
        String noSlot = handshakeSlots.take(attempt.peer);
        attempt.holdsHandshakeSlot = noSlot == null;
        return noSlot;
    }

    private void releaseHandshakeSlot(Attempt attempt) {
        if (attempt.holdsHandshakeSlot) {
            attempt.holdsHandshakeSlot = false;
            handshakeSlots.release(attempt.peer);
        }
    }

    private void refuse(Connection connection, Attempt attempt, Hello hello, RefusedCode code, String reason,
            long retryAfterMs, Map<String, String> details) {
        send(connection, HelloReply.newBuilder().setRefused(Refused.newBuilder()
                .setCode(code)
                .setReason(reason)
                .setServerMinProtocolVersion(minProtocol)
                .setServerMaxProtocolVersion(maxProtocol)
                .setRetryAfterMs((int) Math.min(Integer.MAX_VALUE, retryAfterMs))
                .putAllDetails(details)).build());
        report(connection, attempt, HandshakeOutcome.Result.REFUSED, code, reason, hello.getServiceName());
        connection.closeWithGoAway(GoAwayReason.HANDSHAKE_FAILED, code + ": " + reason);
    }

    /** Garbage or a broken sequence: no reply, just the GOAWAY that says why. */
    private void fail(Connection connection, Attempt attempt, String reason) {
        report(connection, attempt, HandshakeOutcome.Result.FAILED, null, reason);
        connection.closeWithGoAway(GoAwayReason.HANDSHAKE_FAILED, reason);
    }

    private static boolean send(Connection connection, HelloReply reply) {
        // The ring is empty this early in a connection's life, so only a closed connection refuses the frame.
        byte[] bytes = reply.toByteArray();
        return connection.offerFrame(FrameType.HELLO_REPLY, new UnsafeBuffer(bytes), 0, bytes.length);
    }

    private void report(Connection connection, Attempt attempt, HandshakeOutcome.Result result, RefusedCode code,
            String reason) {
        report(connection, attempt, result, code, reason,
                attempt.firstHello != null ? attempt.firstHello.getServiceName() : null);
    }

    private void report(Connection connection, Attempt attempt, HandshakeOutcome.Result result, RefusedCode code,
            String reason, String service) {
        attempt.reported = true;
        HandshakeOutcome outcome = new HandshakeOutcome(result, code, reason, service, connection.peerCredentials(),
                connection.endpoint(), System.nanoTime() - attempt.openedNanos);
        try {
            listener.onHandshake(outcome);
        } catch (RuntimeException | Error e) {
            // An Error too (a listener's failed assertion, say): escaping onto the loop it would end the connection
            // whose handshake was just accepted, before its service's onOpen.
            ListenerFailure.report(transport, "HandshakeListener " + listener.getClass().getName() + ".onHandshake("
                    + outcome + ")", e, "the server carries on");
        }
    }

    /** Every setting starts at its {@code capwire.*} property (see {@link Configuration}). */
    public static final class Builder {
        private final Transport transport;
        private final Map<String, Service> services = new LinkedHashMap<>();
        private PeerPolicy policy;
        private SharedSecret secret = SharedSecret.fromConfiguration().orElse(null);
        private boolean allowUnauthenticatedTcp;
        private int minProtocol = PROTOCOL_VERSION_MIN;
        private int maxProtocol = PROTOCOL_VERSION_MAX;
        private long capabilities = Capabilities.DEFAULTS;
        private long handshakeTimeoutMs = Configuration.handshakeTimeoutMs();
        private int helloRateLimit = Configuration.helloRateLimit();
        private long keepaliveIntervalMs = Configuration.keepaliveIntervalMs();
        private long keepaliveMinIntervalMs = Configuration.keepaliveMinIntervalMs();
        private int keepaliveMaxMissed = Configuration.keepaliveMaxMissed();
        private int maxConnections = Configuration.maxConnections();
        private int maxConnectionsPerUid = Configuration.maxConnectionsPerUid();
        private int maxHandshaking = Configuration.maxHandshaking();
        private int maxHandshakingPerPeer = Configuration.maxHandshakingPerPeer();
        private HandshakeListener listener = outcome -> { };

        private Builder(Transport transport) {
            this.transport = transport;
        }

        public Builder service(Service service) {
            if (services.putIfAbsent(service.name(), service) != null) {
                throw new IllegalArgumentException("service '" + service.name() + "' is already defined");
            }
            return this;
        }

        /** Who may connect; default same user on Unix sockets, anyone (holding the secret) on TCP. */
        public Builder peerPolicy(PeerPolicy value) {
            policy = value;
            return this;
        }

        /** The shared secret clients must prove; default from the capwire.secret.* properties, else none. */
        public Builder secret(SharedSecret value) {
            secret = value;
            return this;
        }

        public Builder noSecret() {
            secret = null;
            return this;
        }

        /** Serve TCP without a shared secret: anyone who can reach the port may connect. */
        public Builder allowUnauthenticatedTcp() {
            allowUnauthenticatedTcp = true;
            return this;
        }

        /** The protocol versions to accept; the default is every version this implementation speaks. */
        public Builder protocolRange(int min, int max) {
            minProtocol = min;
            maxProtocol = max;
            return this;
        }

        /**
         * The capability bits this server offers ({@link Capabilities}); a connection gets those the client offers
         * too. The default is {@link Capabilities#DEFAULTS}; keep {@link Capabilities#FD_PASSING} in them to
         * accept fds.
         */
        public Builder capabilities(long bits) {
            capabilities = bits;
            return this;
        }

        public Builder handshakeTimeoutMs(long value) {
            handshakeTimeoutMs = value;
            return this;
        }

        public Builder helloRateLimit(int perSecond) {
            helloRateLimit = perSecond;
            return this;
        }

        /** The default and largest keepalive interval granted; 0 turns keepalive off. */
        public Builder keepaliveIntervalMs(long value) {
            keepaliveIntervalMs = value;
            return this;
        }

        public Builder keepaliveMinIntervalMs(long value) {
            keepaliveMinIntervalMs = value;
            return this;
        }

        public Builder keepaliveMaxMissed(int value) {
            keepaliveMaxMissed = value;
            return this;
        }

        public Builder maxConnections(int value) {
            maxConnections = value;
            return this;
        }

        public Builder maxConnectionsPerUid(int value) {
            maxConnectionsPerUid = value;
            return this;
        }

        /** Connections waiting for their handshake at once; past it new ones are closed at the accept. */
        public Builder maxHandshaking(int value) {
            maxHandshaking = value;
            return this;
        }

        /**
         * Connections one peer may have waiting for their handshake at once; past it that peer's new ones are
         * closed at the accept while others still get in. See {@link Configuration#MAX_HANDSHAKING_PER_PEER_PROP_NAME}:
         * set it below {@link #maxHandshaking}, or one peer can still fill the server's bound.
         */
        public Builder maxHandshakingPerPeer(int value) {
            maxHandshakingPerPeer = value;
            return this;
        }

        public Builder listener(HandshakeListener value) {
            listener = value;
            return this;
        }

        public HandshakeServer build() {
            return new HandshakeServer(this);
        }
    }
}
