package dev.capwire.broker;

import dev.capwire.Configuration;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.handshake.HandshakeSlots;
import dev.capwire.handshake.HelloChecks;
import dev.capwire.handshake.PeerPolicy;
import dev.capwire.handshake.SharedSecret;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.InboundGate;
import dev.capwire.transport.Server;
import dev.capwire.transport.Transport;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAwayReason;
import java.util.ArrayList;
import java.util.List;

/**
 * One well-known socket where clients say Hello, checked exactly as a direct server checks them, and then handed
 * (the socket itself, over {@code SCM_RIGHTS}) to the backend process that registered the service they asked for.
 * From then on client and backend talk directly; the broker holds nothing of the conversation. Backends register
 * on the same socket ({@link BrokerBackend}); see docs/wire-protocol.md, "Broker".
 *
 * <pre>{@code
 * Broker broker = Broker.builder(transport).build();
 * broker.listen(Endpoint.parse("unix:/run/app/broker.sock"));
 * }</pre>
 */
public final class Broker implements AutoCloseable {
    /** The service name a backend's Hello names to open its registration connection. */
    public static final String REGISTRATION_SERVICE = "capwire.broker";
    /**
     * The version of the registration protocol (broker.proto). 2: the backend takes a handed-off client over as
     * soon as it acknowledged (1 waited for the broker's confirmation), so a backend of either cannot work with
     * a broker of the other.
     */
    public static final String REGISTRATION_VERSION = "2.0.0";

    private final Transport transport;
    private final Registry registry;
    private final Handoffs handoffs;
    private final Launcher launcher;
    private final BrokerGate gate;
    private final List<Server> servers = new ArrayList<>();

    private Broker(Builder b) {
        this.transport = b.transport;
        this.registry = new Registry(b.maxBackendsPerService);
        Events events = new Events(b.transport, b.listener);
        // Everything that can refuse a setting is made before Handoffs, which starts the sweep's timer thread:
        // a build that fails must leave no thread behind, since nobody holds a broker to close.
        this.launcher = new Launcher(b.activations, b.activationTimeoutMs, b.maxConcurrentLaunches, b.idleStopMs,
                events);
        InboundGate handshakeGate = new InboundGate("handshake", GoAwayReason.HANDSHAKE_FAILED, b.handshakeTimeoutMs,
                FrameType.HELLO, FrameType.HELLO_REPLY);
        HelloChecks clientChecks = b.checks(b.clientPolicy);
        HelloChecks registrationChecks = b.checks(b.registrationPolicy);
        HandshakeSlots slots = new HandshakeSlots(b.maxHandshaking, b.maxHandshakingPerPeer);
        this.handoffs = new Handoffs(b.handoffAckMs, events);
        try {
            this.gate = new BrokerGate(clientChecks, b.secret, slots, registrationChecks, handshakeGate,
                    b.keepaliveMaxMissed, registry, handoffs, launcher, events);
        } catch (RuntimeException e) {
            handoffs.close();
            throw e;
        }
    }

    public static Builder builder(Transport transport) {
        return new Builder(transport);
    }

    /** Listens on {@code endpoint}, a Unix socket: sockets travel only between processes of one host. */
    public Server listen(Endpoint endpoint) throws NativeIoException {
        if (!endpoint.isUnix()) {
            throw new IllegalArgumentException("a broker listens on a Unix socket, not " + endpoint);
        }
        Server server = transport.listen(endpoint, gate);
        synchronized (servers) {
            servers.add(server);
        }
        return server;
    }

    /**
     * Serves on a Unix socket a service manager already bound and passed to this process (socket activation,
     * see {@link dev.capwire.transport.InheritedSockets}), so the broker can start on the first connection.
     */
    public Server listen(dev.capwire.bindings.NativeSocket listening) throws NativeIoException {
        Server server = transport.listen(listening, gate);
        if (!server.endpoint().isUnix()) {
            server.close();
            throw new IllegalArgumentException("a broker listens on a Unix socket, not " + server.endpoint());
        }
        synchronized (servers) {
            servers.add(server);
        }
        return server;
    }

    /** The services registered now, by name. */
    public List<String> services() {
        return registry.serviceNames();
    }

    /** Backends registered now. */
    public int backends() {
        return registry.backends();
    }

    /** Backends this broker started (activation) whose processes run now. */
    public int children() {
        return launcher.running();
    }

    /** Hand-offs waiting for their backend's acknowledgement. */
    public int pendingHandoffs() {
        return handoffs.pendingCount();
    }

    /**
     * Stops listening and abandons hand-offs in flight (their clients go to the backend address). Connections
     * already handed off are the backends' and go on; registration connections close with the transport.
     * Backends this broker started are stopped (stdin closed and SIGTERM, SIGKILL after two seconds).
     */
    @Override
    public void close() {
        synchronized (servers) {
            servers.forEach(Server::close);
            servers.clear();
        }
        handoffs.close();
        launcher.close();
    }

    /** Every setting starts at its {@code capwire.*} property (see {@link Configuration}). */
    public static final class Builder {
        private final Transport transport;
        private PeerPolicy clientPolicy;
        private PeerPolicy registrationPolicy = PeerPolicy.sameUser();
        private SharedSecret secret = SharedSecret.fromConfiguration().orElse(null);
        private long handoffAckMs = Configuration.brokerHandoffAckMs();
        private long handshakeTimeoutMs = Configuration.handshakeTimeoutMs();
        private BrokerListener listener = new BrokerListener() { };
        private final java.util.List<Activation> activations = new java.util.ArrayList<>();
        private long activationTimeoutMs = Configuration.brokerActivationTimeoutMs();
        private int maxConcurrentLaunches = Configuration.brokerMaxConcurrentLaunches();
        private long idleStopMs = Configuration.brokerIdleStopMs();
        private int maxBackendsPerService = Configuration.brokerMaxBackendsPerService();
        private int helloRateLimit = Configuration.helloRateLimit();
        private long keepaliveIntervalMs = Configuration.keepaliveIntervalMs();
        private long keepaliveMinIntervalMs = Configuration.keepaliveMinIntervalMs();
        private int keepaliveMaxMissed = Configuration.keepaliveMaxMissed();
        private int maxHandshaking = Configuration.maxHandshaking();
        private int maxHandshakingPerPeer = Configuration.maxHandshakingPerPeer();

        private Builder(Transport transport) {
            this.transport = transport;
        }

        /** Clients' and registering backends' Hellos are checked alike, each under its own peer policy. */
        private HelloChecks checks(PeerPolicy policy) {
            return HelloChecks.withLimits(transport, policy, helloRateLimit, keepaliveIntervalMs,
                    keepaliveMinIntervalMs);
        }

        /** Hellos per second from one peer, as a direct server's; see {@link Configuration#HELLO_RATE_LIMIT_PROP_NAME}. */
        public Builder helloRateLimit(int perSecond) {
            helloRateLimit = perSecond;
            return this;
        }

        /**
         * The default and largest keepalive interval granted to clients (their {@code Negotiated} says it, and the
         * backend keeps it after the hand-off) and to registering backends; 0 turns keepalive off.
         */
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

        /** Connections waiting for their handshake at once; past it new ones are closed at the accept. */
        public Builder maxHandshaking(int value) {
            maxHandshaking = value;
            return this;
        }

        /** Connections one peer may have waiting for their handshake at once; set it below {@link #maxHandshaking}. */
        public Builder maxHandshakingPerPeer(int value) {
            maxHandshakingPerPeer = value;
            return this;
        }

        /** Which clients may say Hello; default as a direct server's, the same user on Unix sockets. */
        public Builder clientPolicy(PeerPolicy value) {
            clientPolicy = value;
            return this;
        }

        /**
         * The shared secret clients must prove, as to a direct server (default: {@code capwire.secret.*}); the
         * proof comes before the broker starts or hands anything on for them. Registrations need none: the
         * registration policy judges them.
         */
        public Builder secret(SharedSecret value) {
            secret = value;
            return this;
        }

        public Builder noSecret() {
            secret = null;
            return this;
        }

        /** Which processes may register services; default the same user as the broker. */
        public Builder registrationPolicy(PeerPolicy value) {
            registrationPolicy = value;
            return this;
        }

        /** See {@link Configuration#BROKER_HANDOFF_ACK_MS_PROP_NAME}. */
        public Builder handoffAckMs(long value) {
            if (value < 1) {
                throw new IllegalArgumentException("handoffAckMs must be at least 1: " + value);
            }
            handoffAckMs = value;
            return this;
        }

        public Builder handshakeTimeoutMs(long value) {
            handshakeTimeoutMs = value;
            return this;
        }

        /**
         * Starts {@code activation}'s backend when a client asks for its service and none is registered: the
         * client is refused UNAVAILABLE with a retry_after_ms meanwhile (a {@code ReconnectingClient} retries),
         * and is handed off once the backend registered.
         */
        public Builder activate(Activation activation) {
            activations.add(activation);
            return this;
        }

        /** See {@link Configuration#BROKER_ACTIVATION_TIMEOUT_MS_PROP_NAME}. */
        public Builder activationTimeoutMs(long value) {
            activationTimeoutMs = value;
            return this;
        }

        /** See {@link Configuration#BROKER_MAX_CONCURRENT_LAUNCHES_PROP_NAME}. */
        public Builder maxConcurrentLaunches(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("maxConcurrentLaunches must be at least 1: " + value);
            }
            maxConcurrentLaunches = value;
            return this;
        }

        /** See {@link Configuration#BROKER_IDLE_STOP_MS_PROP_NAME}; 0: never. */
        public Builder idleStopMs(long value) {
            if (value < 0) {
                throw new IllegalArgumentException("idleStopMs must be 0 (never) or more: " + value);
            }
            idleStopMs = value;
            return this;
        }

        /** See {@link Configuration#BROKER_MAX_BACKENDS_PER_SERVICE_PROP_NAME}. */
        public Builder maxBackendsPerService(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("maxBackendsPerService must be at least 1: " + value);
            }
            maxBackendsPerService = value;
            return this;
        }

        public Builder listener(BrokerListener value) {
            listener = value;
            return this;
        }

        public Broker build() {
            return new Broker(this);
        }
    }
}
