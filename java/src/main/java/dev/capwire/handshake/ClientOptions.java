package dev.capwire.handshake;

import dev.capwire.Configuration;

/**
 * What a client says in its Hello and how it runs the handshake. Settings start at their {@code capwire.*}
 * properties; build with {@link #builder(String)}.
 */
public final class ClientOptions {
    /** The library name and version every Capwire Java client reports. */
    public static final String LIBRARY_NAME = "capwire-java";
    public static final String LIBRARY_VERSION = "0.1.0";

    private final String serviceName;
    private final String wantedServiceVersion;
    private final String clientVersion;
    private final String libraryName;
    private final String libraryVersion;
    private final long claimedPid;
    private final long capabilities;
    private final long keepaliveIntervalMs;
    private final int keepaliveMaxMissed;
    private final int maxFrameBytes;
    private final SharedSecret secret;
    private final int minProtocol;
    private final int maxProtocol;
    private final long handshakeTimeoutMs;
    private final boolean callsBeforeTakeover;

    private ClientOptions(Builder b) {
        this.serviceName = b.serviceName;
        this.wantedServiceVersion = b.wantedServiceVersion;
        this.clientVersion = b.clientVersion;
        this.libraryName = b.libraryName;
        this.libraryVersion = b.libraryVersion;
        this.claimedPid = b.claimedPid;
        this.capabilities = b.capabilities;
        this.keepaliveIntervalMs = b.keepaliveIntervalMs;
        this.keepaliveMaxMissed = b.keepaliveMaxMissed;
        this.maxFrameBytes = b.maxFrameBytes;
        this.secret = b.secret;
        this.minProtocol = b.minProtocol;
        this.maxProtocol = b.maxProtocol;
        this.handshakeTimeoutMs = b.handshakeTimeoutMs;
        this.callsBeforeTakeover = b.callsBeforeTakeover;
    }

    /** Options for connecting to {@code serviceName}. */
    public static Builder builder(String serviceName) {
        return new Builder(serviceName);
    }

    public String serviceName() {
        return serviceName;
    }

    public String wantedServiceVersion() {
        return wantedServiceVersion;
    }

    public String clientVersion() {
        return clientVersion;
    }

    public String libraryName() {
        return libraryName;
    }

    public String libraryVersion() {
        return libraryVersion;
    }

    public long claimedPid() {
        return claimedPid;
    }

    public long capabilities() {
        return capabilities;
    }

    public long keepaliveIntervalMs() {
        return keepaliveIntervalMs;
    }

    public int keepaliveMaxMissed() {
        return keepaliveMaxMissed;
    }

    /** 0: the transport's own capwire.maxFrameBytes. */
    public int maxFrameBytes() {
        return maxFrameBytes;
    }

    public SharedSecret secret() {
        return secret;
    }

    public int minProtocol() {
        return minProtocol;
    }

    public int maxProtocol() {
        return maxProtocol;
    }

    public long handshakeTimeoutMs() {
        return handshakeTimeoutMs;
    }

    /** See {@link Builder#callsBeforeTakeover(boolean)}. */
    public boolean callsBeforeTakeover() {
        return callsBeforeTakeover;
    }

    public static final class Builder {
        private final String serviceName;
        private String wantedServiceVersion = "";
        private String clientVersion = "";
        private String libraryName = LIBRARY_NAME;
        private String libraryVersion = LIBRARY_VERSION;
        private long claimedPid = ProcessHandle.current().pid();
        private long capabilities = Capabilities.DEFAULTS;
        private long keepaliveIntervalMs;
        private int keepaliveMaxMissed = Configuration.keepaliveMaxMissed();
        private int maxFrameBytes;
        private SharedSecret secret = SharedSecret.fromConfiguration().orElse(null);
        private int minProtocol = HandshakeServer.PROTOCOL_VERSION_MIN;
        private int maxProtocol = HandshakeServer.PROTOCOL_VERSION_MAX;
        private long handshakeTimeoutMs = Configuration.handshakeTimeoutMs();
        private boolean callsBeforeTakeover = Configuration.handoffCallsBeforeTakeover();

        private Builder(String serviceName) {
            this.serviceName = serviceName;
        }

        /** The service version this client was built against (MAJOR.MINOR.PATCH); empty accepts any. */
        public Builder wantedServiceVersion(String value) {
            wantedServiceVersion = value;
            return this;
        }

        /** This client application's own version, which a server's version policy checks. */
        public Builder clientVersion(String value) {
            clientVersion = value;
            return this;
        }

        public Builder library(String name, String version) {
            libraryName = name;
            libraryVersion = version;
            return this;
        }

        /** The pid to claim; the default, this process's, is the only one a server will accept. 0: say none. */
        public Builder claimedPid(long value) {
            HandshakeFields.requireUint32("claimedPid", value);
            claimedPid = value;
            return this;
        }

        /**
         * The capability bits to advertise ({@link Capabilities}); the default is {@link Capabilities#DEFAULTS}.
         * Keep {@link Capabilities#FD_PASSING} in them to pass fds.
         */
        public Builder capabilities(long bits) {
            capabilities = bits;
            return this;
        }

        /** The keepalive interval to ask for; 0 (the default) takes the server's. */
        public Builder keepaliveIntervalMs(long value) {
            HandshakeFields.requireUint32("keepaliveIntervalMs", value);
            keepaliveIntervalMs = value;
            return this;
        }

        public Builder keepaliveMaxMissed(int value) {
            keepaliveMaxMissed = value;
            return this;
        }

        public Builder maxFrameBytes(int value) {
            maxFrameBytes = value;
            return this;
        }

        /** The shared secret to prove; default from the capwire.secret.* properties, else none. */
        public Builder secret(SharedSecret value) {
            secret = value;
            return this;
        }

        public Builder noSecret() {
            secret = null;
            return this;
        }

        public Builder protocolRange(int min, int max) {
            minProtocol = min;
            maxProtocol = max;
            return this;
        }

        public Builder handshakeTimeoutMs(long value) {
            handshakeTimeoutMs = value;
            return this;
        }

        /**
         * When a broker hands this client's connection to a backend: return from {@code connect} as soon as the
         * broker's Negotiated reply came (true, the default), so the first calls ride the socket's buffer to the
         * backend while it takes over, or wait for the backend's takeover frame first (false). True saves a hop
         * between processes on every brokered connect. Its price: when the broker abandons the hand-off, calls
         * already sent fail UNAVAILABLE with the connection (as on any connection that breaks; a backend may have
         * taken them), and {@link NegotiatedConnection#takeover()} fails naming the backend's own address, where
         * a waiting {@code connect} would have reconnected by itself. Default from
         * {@code capwire.handoff.callsBeforeTakeover}.
         */
        public Builder callsBeforeTakeover(boolean value) {
            callsBeforeTakeover = value;
            return this;
        }

        public ClientOptions build() {
            return new ClientOptions(this);
        }
    }
}
