package dev.capwire.rpc;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.rpc.ExportTable.Export;
import dev.capwire.rpc.ImportTable.Import;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.GoAwayReason;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The RPC side of one connection: its cap table ({@link CapTable}: exports and imports, docs/rpc-protocol.md),
 * the calls it serves ({@link Callee}) and makes ({@link Caller}), and the control messages between them. Frames
 * arrive as the connection's loop work and are dispatched here; calls and releases come from any thread.
 */
public final class RpcConnection {
    static final int BOOTSTRAP_CAP = 0;
    static final int RUNTIME_CAP = 1;
    static final int BOOTSTRAP_METHOD = 1;
    static final int RELEASE = 1;
    static final int REVOKE = 2;
    static final int STREAM_ITEM = 3;
    static final int STREAM_CREDIT = 4;

    private final Rpc rpc;
    private final Connection connection;
    private final RpcOptions options;
    private final CapTable caps;
    private final Callee callee;
    private final Caller caller;
    private final ConsumerStreams streams;
    private final Object runtimeProxy;
    private volatile CloseReason closed;

    RpcConnection(Rpc rpc, Connection connection, RpcOptions options) {
        this.rpc = rpc;
        this.connection = connection;
        this.options = options;
        this.caps = new CapTable(this, connection, options.maxCaps());
        this.callee = new Callee(this, options, new RuntimeService(this));
        this.streams = new ConsumerStreams(this);
        this.caller = new Caller(this, options, streams);
        this.runtimeProxy = CapProxy.create(this, CapabilityType.of(RuntimeCapability.class), caps.peerRuntime(),
                null);
    }

    /** The transport connection underneath. */
    public Connection connection() {
        return connection;
    }

    /** Gets the cap the peer serves under {@code type}'s {@link Capability} name, at a compatible version. */
    public <T> T bootstrap(Class<T> type) {
        return caller.bootstrap(CapabilityType.of(type));
    }

    /** The peer's runtime cap (id 1): ping, what it serves, its diagnostics. Needs no bootstrap or release. */
    public RuntimeCapability runtime() {
        return (RuntimeCapability) runtimeProxy;
    }

    /** Caps this side hosts for the peer right now (ids 0 and 1 not counted). */
    public int exportCount() {
        return caps.exportCount();
    }

    /** Caps of the peer this side holds references to right now. */
    public int importCount() {
        return caps.importCount();
    }

    /** Calls from the peer running here now. */
    public int answerCount() {
        return callee.running();
    }

    /** Calls to the peer awaiting their answers now. */
    public int questionCount() {
        return caller.inFlight();
    }

    /** Server streams open on this connection now, either way. */
    public int openStreams() {
        return callee.openStreams() + streams.count();
    }

    /** True once the connection has closed; every table is empty then. */
    public boolean isClosed() {
        return closed != null;
    }

    Rpc rpc() {
        return rpc;
    }

    long callsServed() {
        return callee.served();
    }

    long callsFailed() {
        return callee.failed();
    }

    // ---------------------------------------------------------------------------------------------------
    // Frames (loop work)
    // ---------------------------------------------------------------------------------------------------

    void onFrame(InboundFrame frame) {
        switch (frame.type()) {
            case FrameType.REQUEST:
                callee.onCall(frame);
                break;
            case FrameType.CANCEL:
                callee.onCancel(frame.correlationId());
                break;
            case FrameType.NOTIFY:
                if (frame.capId() == BOOTSTRAP_CAP) {
                    onControl(frame);
                }
                break; // NOTIFY to other caps is not this protocol's; dropped (its fds are closed by the loop)
            default:
                break;
        }
    }

    private void onControl(InboundFrame frame) {
        DirectBuffer buffer = frame.buffer();
        int offset = frame.payloadOffset();
        int length = frame.payloadLength();
        switch (frame.methodId()) {
            case RELEASE:
                if (length != 8) {
                    protocolError("a RELEASE of " + length + " bytes (it has 8)");
                    return;
                }
                onRelease(buffer.getInt(offset, FrameHeader.ORDER), buffer.getInt(offset + 4, FrameHeader.ORDER));
                break;
            case REVOKE:
                if (length < 4) {
                    protocolError("a REVOKE of " + length + " bytes (it has at least 4)");
                    return;
                }
                onRevoke(buffer.getInt(offset, FrameHeader.ORDER),
                        buffer.getStringWithoutLengthAscii(offset + 4, length - 4));
                break;
            case STREAM_ITEM:
                if (length < 4) {
                    protocolError("a STREAM_ITEM of " + length + " bytes (it has at least 4)");
                    return;
                }
                streams.onItem(buffer.getInt(offset, FrameHeader.ORDER), frame);
                break;
            case STREAM_CREDIT:
                if (length != 8) {
                    protocolError("a STREAM_CREDIT of " + length + " bytes (it has 8)");
                    return;
                }
                callee.onCredit(buffer.getInt(offset, FrameHeader.ORDER), buffer.getInt(offset + 4, FrameHeader.ORDER));
                break;
            default:
                protocolError("a control message with method_id " + frame.methodId() + " (RELEASE 1, REVOKE 2, "
                        + "STREAM_ITEM 3 and STREAM_CREDIT 4 exist)");
        }
    }

    private void onRelease(int exportId, int count) {
        if (!caps.releasedByPeer(exportId, count)) {
            protocolError("RELEASE of " + Integer.toUnsignedString(count) + " references to export "
                    + Integer.toUnsignedString(exportId) + ", which this side does not hold that many of");
        }
    }

    private void onRevoke(int exportId, String reason) {
        Import revoked = caps.revokedByPeer(exportId, reason);
        if (revoked != null) {
            caller.failCallsOn(revoked, new StatusException(StatusCode.UNAVAILABLE, reason,
                    "the peer revoked the cap (export " + exportId + ")", null));
        }
    }

    /** Answers call {@code id} with an ERROR; a connection that closed or stopped reading is left to the caller's deadline. */
    void respondError(long id, StatusCode code, String reason, String message) {
        try {
            connection.respondError(id, code, reason, message);
        } catch (StatusException e) {
            // Closed, or the peer stopped reading: its own deadline answers it.
        }
    }

    /** The peer broke docs/rpc-protocol.md: the connection ends with a GOAWAY that says how. */
    void protocolError(String what) {
        RpcEvents.error(this, null, "protocol error: " + what, null);
        connection.closeWithGoAway(GoAwayReason.PROTOCOL_ERROR, "RPC: " + what);
    }

    // ---------------------------------------------------------------------------------------------------
    // The cap table and the message being encoded (any thread)
    // ---------------------------------------------------------------------------------------------------

    private final Outgoing.Shortcut outgoing = new Outgoing.Shortcut();

    /** The calling thread's message to encode a call, an answer or a stream item of this connection into. */
    Outgoing outgoing() {
        return outgoing.take(caps);
    }

    /** How descriptors this connection receives become values: its cap table. */
    Incoming.CapImporter importer() {
        return caps;
    }

    CapTable caps() {
        return caps;
    }

    /** A proxy was closed or collected: its reference goes back to the peer. */
    void release(Import entry) {
        caps.release(entry);
    }

    // ---------------------------------------------------------------------------------------------------
    // Revocation and close
    // ---------------------------------------------------------------------------------------------------

    /** The served caps were unserved or replaced: the peer hears REVOKE, and calls running on them end. */
    void revoke(List<Served> withdrawn, String reason) {
        for (Served served : withdrawn) {
            for (Export export : caps.revokeExports(served, reason)) {
                // Calls running on it end first, with the reason: the REVOKE makes the peer cancel them, and
                // the handlers should hear why from this side, not "cancelled" from the peer.
                callee.revoked(export, reason);
                UnsafeBuffer payload = Outgoing.revoke(export.id, reason);
                try {
                    connection.sendNotify(BOOTSTRAP_CAP, REVOKE, payload, 0, payload.capacity(),
                            connection.options().sendTimeoutMs());
                } catch (StatusException e) {
                    // Closed, or not reading: it loses the cap either way.
                }
                RpcEvents.revoked(this, served.type.name(), reason);
            }
        }
    }

    /** The connection ended: every question fails, every answer is cancelled, both tables empty. */
    void closed(CloseReason reason) {
        StatusException why = new StatusException(StatusCode.UNAVAILABLE, "connection.closed",
                connection + " closed: " + reason, null);
        closed = reason;
        // The transport failed every call in flight (UNAVAILABLE, naming why) before it told us of the close.
        caps.close();
        callee.closed(why);
        streams.closed(why);
    }

    /** Throws UNAVAILABLE once the connection has closed. */
    void ensureOpen() {
        CloseReason reason = closed;
        if (reason != null) {
            throw new StatusException(StatusCode.UNAVAILABLE, "connection.closed", connection + " closed: " + reason,
                    null);
        }
    }

    Caller caller() {
        return caller;
    }

    void reportError(Throwable failure) {
        try {
            options.errorHandler().onError(failure);
        } catch (RuntimeException ignored) {
            // An error handler that fails has nobody left to tell.
        }
    }

    static String ascii(byte[] bytes) {
        return new String(bytes, StandardCharsets.US_ASCII);
    }

    /** Sends a stream item or credit; the fds are duplicated, the caller keeps its own. */
    void sendControl(int method, UnsafeBuffer payload, long timeoutMs, FileDescriptor... fds) {
        connection.sendNotify(BOOTSTRAP_CAP, method, payload, 0, payload.capacity(), timeoutMs, fds);
    }

    @Override
    public String toString() {
        return "RPC on " + connection;
    }
}
