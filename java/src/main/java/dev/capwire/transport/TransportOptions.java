package dev.capwire.transport;

import dev.capwire.Configuration;
import dev.capwire.wire.FrameHeader;
import java.util.Objects;
import org.agrona.BitUtil;
import org.agrona.ErrorHandler;
import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.SystemNanoClock;

/**
 * The settings of a {@link Transport}: each starts at its {@code capwire.*} system property (see
 * {@link Configuration}) and may be overridden here. Immutable; build with {@link #builder()}.
 */
public final class TransportOptions {
    /**
     * A ring record (at most 1/8 of the ring, Agrona's rule) holds one frame plus the fd numbers it carries;
     * 16 KiB rings leave room for a header, 253 fds and a useful payload. Frames sent are at most
     * min(maxFrameBytes, ringBytes / 8); longer messages are fragmented.
     */
    static final int MIN_RING_BYTES = 16 * 1024;

    private final int eventLoops;
    private final String idleStrategy;
    private final long parkAfterIdleMicros;
    private final int ringBytes;
    private final int maxFrameBytes;
    private final int maxMessageBytes;
    private final int maxInFlight;
    private final long requestTimeoutMs;
    private final long connectTimeoutMs;
    private final long closeTimeoutMs;
    private final int socketSendBufferBytes;
    private final int socketReceiveBufferBytes;
    private final NanoClock clock;
    private final ErrorHandler errorHandler;
    private final boolean exposeHandlerErrors;
    private final int sendHighWaterBytes;
    private final int earlyWriteBytes;
    private final long sendStallTimeoutMs;
    private final long sendTimeoutMs;
    private final boolean replaceStaleSocketFile;
    private final long acceptBackoffMs;
    private final int maxConnectionsPerServer;

    private TransportOptions(Builder b) {
        if (b.eventLoops < 0) {
            throw new IllegalArgumentException("eventLoops must be 0 (invoker mode) or more: " + b.eventLoops);
        }
        if (!BitUtil.isPowerOfTwo(b.ringBytes) || b.ringBytes < MIN_RING_BYTES) {
            throw new IllegalArgumentException("ringBytes must be a power of two of at least " + MIN_RING_BYTES + ": "
                    + b.ringBytes);
        }
        if (b.maxFrameBytes <= FrameHeader.HEADER_LENGTH) {
            throw new IllegalArgumentException("maxFrameBytes must exceed the " + FrameHeader.HEADER_LENGTH
                    + "-byte header: " + b.maxFrameBytes);
        }
        if (b.maxMessageBytes < b.maxFrameBytes - FrameHeader.HEADER_LENGTH) {
            throw new IllegalArgumentException("maxMessageBytes must be at least one frame's payload");
        }
        if (b.sendHighWaterBytes < 1 || b.sendStallTimeoutMs < 1 || b.sendTimeoutMs < 0) {
            throw new IllegalArgumentException("sendHighWaterBytes and sendStallTimeoutMs must be positive, "
                    + "sendTimeoutMs at least 0");
        }
        if (b.earlyWriteBytes < 0) {
            throw new IllegalArgumentException("earlyWriteBytes must not be negative, was " + b.earlyWriteBytes);
        }
        if (b.maxInFlight < 1 || b.maxInFlight > RequestTable.MAX_SLOTS) {
            throw new IllegalArgumentException("maxInFlight must be 1 to " + RequestTable.MAX_SLOTS + ": "
                    + b.maxInFlight);
        }
        if (b.acceptBackoffMs < 1 || b.maxConnectionsPerServer < 1) {
            throw new IllegalArgumentException("acceptBackoffMs and maxConnectionsPerServer must be positive: "
                    + b.acceptBackoffMs + ", " + b.maxConnectionsPerServer);
        }
        Configuration.idleStrategy(b.idleStrategy); // fails early on an unknown name
        this.eventLoops = b.eventLoops;
        this.idleStrategy = b.idleStrategy;
        this.parkAfterIdleMicros = b.parkAfterIdleMicros;
        this.ringBytes = b.ringBytes;
        this.maxFrameBytes = b.maxFrameBytes;
        this.maxMessageBytes = b.maxMessageBytes;
        this.maxInFlight = b.maxInFlight;
        this.requestTimeoutMs = b.requestTimeoutMs;
        this.connectTimeoutMs = b.connectTimeoutMs;
        this.closeTimeoutMs = b.closeTimeoutMs;
        this.clock = b.clock;
        this.errorHandler = b.errorHandler;
        this.exposeHandlerErrors = b.exposeHandlerErrors;
        this.sendHighWaterBytes = b.sendHighWaterBytes;
        this.earlyWriteBytes = b.earlyWriteBytes;
        this.sendStallTimeoutMs = b.sendStallTimeoutMs;
        this.sendTimeoutMs = b.sendTimeoutMs;
        this.socketSendBufferBytes = b.socketSendBufferBytes;
        this.socketReceiveBufferBytes = b.socketReceiveBufferBytes;
        this.replaceStaleSocketFile = b.replaceStaleSocketFile;
        this.acceptBackoffMs = b.acceptBackoffMs;
        this.maxConnectionsPerServer = b.maxConnectionsPerServer;
    }

    /** The defaults, read from the system properties now. */
    public static TransportOptions defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public int eventLoops() {
        return eventLoops;
    }

    public String idleStrategy() {
        return idleStrategy;
    }

    public long parkAfterIdleMicros() {
        return parkAfterIdleMicros;
    }

    public int ringBytes() {
        return ringBytes;
    }

    public int maxFrameBytes() {
        return maxFrameBytes;
    }

    public int maxMessageBytes() {
        return maxMessageBytes;
    }

    public int maxInFlight() {
        return maxInFlight;
    }

    public long requestTimeoutMs() {
        return requestTimeoutMs;
    }

    public long connectTimeoutMs() {
        return connectTimeoutMs;
    }

    public long closeTimeoutMs() {
        return closeTimeoutMs;
    }

    public int socketSendBufferBytes() {
        return socketSendBufferBytes;
    }

    /**
     * The clock every deadline, keepalive, linger and timeout of the transport is measured on. The system's
     * monotonic clock unless a test injects one it controls, so that time-driven behaviour is tested by moving
     * the clock instead of sleeping.
     */
    public NanoClock clock() {
        return clock;
    }

    /**
     * Where every failure the transport cannot hand to a caller goes: a listener that threw, an error on an
     * event loop, a connection closed by an {@link Error}. Defaults to {@link ErrorLog} (the JDK's
     * {@code System.Logger}, so SLF4J, Log4j and JUL users get it with no new dependency).
     */
    public ErrorHandler errorHandler() {
        return errorHandler;
    }

    /** See {@link Configuration#EXPOSE_HANDLER_ERRORS_PROP_NAME}. */
    public boolean exposeHandlerErrors() {
        return exposeHandlerErrors;
    }

    /** See {@link Configuration#SEND_HIGH_WATER_BYTES_PROP_NAME}. */
    public int sendHighWaterBytes() {
        return sendHighWaterBytes;
    }

    /** See {@link Configuration#EARLY_WRITE_BYTES_PROP_NAME}. */
    public int earlyWriteBytes() {
        return earlyWriteBytes;
    }

    /** See {@link Configuration#SEND_STALL_TIMEOUT_MS_PROP_NAME}. */
    public long sendStallTimeoutMs() {
        return sendStallTimeoutMs;
    }

    /** See {@link Configuration#SEND_TIMEOUT_MS_PROP_NAME}. */
    public long sendTimeoutMs() {
        return sendTimeoutMs;
    }

    public int socketReceiveBufferBytes() {
        return socketReceiveBufferBytes;
    }

    /** See {@link Configuration#REPLACE_STALE_SOCKET_FILE_PROP_NAME}. */
    public boolean replaceStaleSocketFile() {
        return replaceStaleSocketFile;
    }

    /** See {@link Configuration#ACCEPT_BACKOFF_MS_PROP_NAME}. */
    public long acceptBackoffMs() {
        return acceptBackoffMs;
    }

    /** See {@link Configuration#MAX_CONNECTIONS_PER_SERVER_PROP_NAME}. */
    public int maxConnectionsPerServer() {
        return maxConnectionsPerServer;
    }

    /** Starts from the system properties; every setter overrides one. */
    public static final class Builder {
        private int eventLoops = Configuration.eventLoops();
        private String idleStrategy = Configuration.idleStrategy();
        private long parkAfterIdleMicros = Configuration.parkAfterIdleMicros();
        private int ringBytes = Configuration.ringBytes();
        private int maxFrameBytes = Configuration.maxFrameBytes();
        private int maxMessageBytes = Configuration.maxMessageBytes();
        private int maxInFlight = Configuration.maxInFlight();
        private long requestTimeoutMs = Configuration.requestTimeoutMs();
        private long connectTimeoutMs = Configuration.connectTimeoutMs();
        private long closeTimeoutMs = Configuration.closeTimeoutMs();
        private int socketSendBufferBytes = Configuration.socketSendBufferBytes();
        private int socketReceiveBufferBytes = Configuration.socketReceiveBufferBytes();
        private NanoClock clock = SystemNanoClock.INSTANCE;
        private ErrorHandler errorHandler = ErrorLog.INSTANCE;
        private boolean exposeHandlerErrors = Configuration.exposeHandlerErrors();
        private int sendHighWaterBytes = Configuration.sendHighWaterBytes();
        private int earlyWriteBytes = Configuration.earlyWriteBytes();
        private long sendStallTimeoutMs = Configuration.sendStallTimeoutMs();
        private long sendTimeoutMs = Configuration.sendTimeoutMs();
        private boolean replaceStaleSocketFile = Configuration.replaceStaleSocketFile();
        private long acceptBackoffMs = Configuration.acceptBackoffMs();
        private int maxConnectionsPerServer = Configuration.maxConnectionsPerServer();

        private Builder() {
        }

        public Builder eventLoops(int value) {
            eventLoops = value;
            return this;
        }

        public Builder idleStrategy(String value) {
            idleStrategy = value;
            return this;
        }

        public Builder parkAfterIdleMicros(long value) {
            parkAfterIdleMicros = value;
            return this;
        }

        public Builder ringBytes(int value) {
            ringBytes = value;
            return this;
        }

        public Builder maxFrameBytes(int value) {
            maxFrameBytes = value;
            return this;
        }

        public Builder maxMessageBytes(int value) {
            maxMessageBytes = value;
            return this;
        }

        public Builder maxInFlight(int value) {
            maxInFlight = value;
            return this;
        }

        public Builder requestTimeoutMs(long value) {
            requestTimeoutMs = value;
            return this;
        }

        public Builder connectTimeoutMs(long value) {
            connectTimeoutMs = value;
            return this;
        }

        public Builder closeTimeoutMs(long value) {
            closeTimeoutMs = value;
            return this;
        }

        public Builder socketSendBufferBytes(int value) {
            socketSendBufferBytes = value;
            return this;
        }

        public Builder socketReceiveBufferBytes(int value) {
            socketReceiveBufferBytes = value;
            return this;
        }

        /** See {@link TransportOptions#clock()}. */
        public Builder clock(NanoClock value) {
            clock = Objects.requireNonNull(value, "clock");
            return this;
        }

        /** See {@link TransportOptions#errorHandler()}. */
        public Builder errorHandler(ErrorHandler value) {
            errorHandler = Objects.requireNonNull(value, "errorHandler");
            return this;
        }

        /** See {@link Configuration#EXPOSE_HANDLER_ERRORS_PROP_NAME}. */
        public Builder exposeHandlerErrors(boolean value) {
            exposeHandlerErrors = value;
            return this;
        }

        public Builder sendHighWaterBytes(int value) {
            sendHighWaterBytes = value;
            return this;
        }

        /** See {@link Configuration#EARLY_WRITE_BYTES_PROP_NAME}. */
        public Builder earlyWriteBytes(int value) {
            earlyWriteBytes = value;
            return this;
        }

        public Builder sendStallTimeoutMs(long value) {
            sendStallTimeoutMs = value;
            return this;
        }

        public Builder sendTimeoutMs(long value) {
            sendTimeoutMs = value;
            return this;
        }

        public Builder replaceStaleSocketFile(boolean value) {
            replaceStaleSocketFile = value;
            return this;
        }

        /** See {@link Configuration#ACCEPT_BACKOFF_MS_PROP_NAME}. */
        public Builder acceptBackoffMs(long value) {
            acceptBackoffMs = value;
            return this;
        }

        /** See {@link Configuration#MAX_CONNECTIONS_PER_SERVER_PROP_NAME}. */
        public Builder maxConnectionsPerServer(int value) {
            maxConnectionsPerServer = value;
            return this;
        }

        public TransportOptions build() {
            return new TransportOptions(this);
        }
    }
}
