package dev.capwire.handshake;

import dev.capwire.transport.Connection;
import dev.capwire.wire.proto.Negotiated;
import java.util.List;

/** A connection whose handshake succeeded, with what the two sides agreed. */
public final class NegotiatedConnection implements AutoCloseable {
    private final Connection connection;
    private final Negotiated negotiated;

    NegotiatedConnection(Connection connection, Negotiated negotiated) {
        this.connection = connection;
        this.negotiated = negotiated;
    }

    /** The transport connection, ready for requests and notifies. */
    public Connection connection() {
        return connection;
    }

    /** Whether a broker handed this connection to the backend that now serves it (the socket came through it). */
    public boolean handedOff() {
        return !negotiated.getHandoffToken().isEmpty();
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

    /** The server's id for this connection: quote it when reading the server's logs. */
    public long connectionId() {
        return negotiated.getConnectionId();
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
