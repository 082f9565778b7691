package dev.capwire.handshake;

import dev.capwire.transport.Connection;
import dev.capwire.wire.proto.Negotiated;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** A connection whose handshake succeeded, with what the two sides agreed. */
public final class NegotiatedConnection implements AutoCloseable {
    private final Connection connection;
    private final Negotiated negotiated;
    private final CompletableFuture<Negotiated> takeover;

    NegotiatedConnection(Connection connection, Negotiated negotiated, CompletableFuture<Negotiated> takeover) {
        this.connection = connection;
        this.negotiated = negotiated;
        this.takeover = takeover;
    }

    /** The transport connection, ready for requests and notifies. */
    public Connection connection() {
        return connection;
    }

    /** Whether a broker handed this connection to the backend that now serves it (the socket came through it). */
    public boolean handedOff() {
        return !negotiated.getHandoffToken().isEmpty();
    }

    /**
     * Completes once the backend has taken a handed-off connection over (its takeover frame arrived), and fails
     * UNAVAILABLE, naming the backend's own address, when the connection ended first. Already complete for a
     * direct connection and for a hand-off whose takeover {@code connect} waited for
     * ({@link ClientOptions.Builder#callsBeforeTakeover} false; by default it does not wait).
     */
    public CompletableFuture<Void> takeover() {
        return takeover.thenApply(backend -> null);
    }

    /** The backend's own address a broker named when the hand-off failed before the takeover; else null. */
    String fallbackAfterFailedTakeover() {
        return takeover.isCompletedExceptionally() && !negotiated.getBackendAddress().isEmpty()
                ? negotiated.getBackendAddress() : null;
    }

    public int protocolVersion() {
        return negotiated.getProtocolVersion();
    }

    public String serverVersion() {
        return negotiated.getServerVersion();
    }

    /** The capability bits both sides offered. */
    public long capabilities() {
        return negotiated.getCapabilities();
    }

    /** 0 when keepalive is off. */
    public long keepaliveIntervalMs() {
        return negotiated.getKeepaliveIntervalMs();
    }

    public int maxFrameBytes() {
        return negotiated.getMaxFrameBytes();
    }

    /**
     * The server's id for this connection: quote it when reading the server's logs. For a handed-off connection,
     * the backend's once it has taken over, the broker's before.
     */
    public long connectionId() {
        Negotiated backend = takeover.isDone() && !takeover.isCompletedExceptionally() ? takeover.join() : negotiated;
        return backend.getConnectionId();
    }

    public List<String> warnings() {
        return negotiated.getWarningsList();
    }

    @Override
    public void close() {
        connection.close();
    }

    @Override
    public String toString() {
        return connection + " negotiated protocol " + protocolVersion() + " with server " + serverVersion()
                + " (server connection " + connectionId() + ")";
    }
}
