package dev.capwire.rpc;

import dev.capwire.Configuration;
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
import java.lang.ref.Cleaner;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The RPC side of one connection: its export and import tables (docs/rpc-protocol.md), the calls it serves
 * ({@link Callee}) and makes ({@link Caller}), and the control messages between them. Frames arrive as the
 * connection's loop work; calls and releases come from any thread, so the tables are guarded by this
 * object's lock, held only for table work, never while sending or running a handler.
 */
public final class RpcConnection {
    static final int BOOTSTRAP_CAP = 0;
    static final int RUNTIME_CAP = 1;
    static final int BOOTSTRAP_METHOD = 1;
    static final int RELEASE = 1;
    static final int REVOKE = 2;
    static final int STREAM_ITEM = 3;
    static final int STREAM_CREDIT = 4;
    private static final Cleaner CLEANER = Cleaner.create();

    private final Rpc rpc;
    private final Connection connection;
    private final RpcOptions options;
    private final ExportTable exports;
    private final ImportTable imports = new ImportTable();
    /** The peer's bootstrap and runtime caps: always there, never counted or released. */
    private final Import peerBootstrap = new Import(BOOTSTRAP_CAP);
    private final Import peerRuntime = new Import(RUNTIME_CAP);
    private final Callee callee;
    private final Caller caller;
    private final ConsumerStreams streams;
    private final Object runtimeProxy;
    private volatile CloseReason closed;

    RpcConnection(Rpc rpc, Connection connection, RpcOptions options) {
        this.rpc = rpc;
        this.connection = connection;
        this.options = options;
        this.exports = new ExportTable(options.maxCaps());
        this.callee = new Callee(this, options, new RuntimeService(this));
        this.streams = new ConsumerStreams(this);
        this.caller = new Caller(this, options, streams);
        this.runtimeProxy = CapProxy.create(this, CapabilityType.of(RuntimeCapability.class), peerRuntime, null);
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
    public synchronized int exportCount() {
        return exports.size();
    }

    /** Caps of the peer this side holds references to right now. */
    public synchronized int importCount() {
        return imports.size();
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
        boolean released;
        synchronized (this) {
            released = exports.release(exportId, count);
        }
        if (!released) {
            protocolError("RELEASE of " + Integer.toUnsignedString(count) + " references to export "
                    + Integer.toUnsignedString(exportId) + ", which this side does not hold that many of");
        }
    }

    private void onRevoke(int exportId, String reason) {
        int references;
        Import revoked;
        synchronized (this) {
            revoked = imports.get(exportId);
            if (revoked == null) {
                return; // this side released it already: nothing to fail, nothing to give back
            }
            revoked.revoked = reason;
            references = imports.removeRevoked(revoked);
        }
        caller.failCallsOn(revoked, new StatusException(StatusCode.UNAVAILABLE, reason,
                "the peer revoked the cap (export " + exportId + ")", null));
        if (references > 0) {
            sendRelease(exportId, references);
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
    // Exports and imports (any thread)
    // ---------------------------------------------------------------------------------------------------

    private final Outgoing.CapExporter exporter = new Outgoing.CapExporter() {
        @Override
        public int descriptorFor(Object cap, CapabilityType<?> type) {
            return RpcConnection.this.descriptorFor(cap, type);
        }

        @Override
        public void unexport(int descriptor) {
            RpcConnection.this.unexport(descriptor);
        }
    };

    private final Incoming.CapImporter importer = new Incoming.CapImporter() {
        @Override
        public Object capFor(int descriptor, CapabilityType<?> type) {
            return RpcConnection.this.capFor(descriptor, type);
        }

        @Override
        public void releaseUnused(int descriptor) {
            RpcConnection.this.releaseUnused(descriptor);
        }

        @Override
        public Object capFor(int descriptor, Import claim, CapabilityType<?> type) {
            return RpcConnection.this.capFor(descriptor, claim, type);
        }

        @Override
        public void releaseUnused(int descriptor, Import claim) {
            RpcConnection.this.releaseUnused(descriptor, claim);
        }

        @Override
        public Import[] claimCarried(int[] descriptors) {
            return RpcConnection.this.claimCarried(descriptors);
        }
    };

    private final Outgoing.Shortcut outgoing = new Outgoing.Shortcut();

    /** The calling thread's message to encode a call, an answer or a stream item of this connection into. */
    Outgoing outgoing() {
        return outgoing.take(exporter);
    }

    Incoming.CapImporter importer() {
        return importer;
    }

    /** The descriptor that passes {@code cap} to the peer: an export of ours, or the peer's own cap back. */
    int descriptorFor(Object cap, CapabilityType<?> type) {
        CapProxy proxy = CapProxy.of(cap);
        if (proxy != null) {
            if (proxy.connection() != this) {
                throw new IllegalArgumentException("a proxy for a cap of another connection cannot be passed on ("
                        + "Capwire has no three-party handoff); pass an object of this process instead");
            }
            return Incoming.RECEIVER_HOSTED | proxy.exportId();
        }
        if (!type.type().isInstance(cap)) {
            throw new IllegalArgumentException(cap + " does not implement " + type.type().getName());
        }
        Export export;
        synchronized (this) {
            export = exports.export(cap, type, null);
        }
        if (export == null) {
            throw maxCaps();
        }
        return export.id;
    }

    /** A served cap exported to the peer by bootstrap; null when the export table is full. */
    /** Null when the table is full, or when {@code served} was withdrawn since the bootstrap found it. */
    synchronized Export exportServed(Served served) {
        if (served.isWithdrawn()) {
            return null;
        }
        return exports.export(served.implementation, served.type, served);
    }

    StatusException maxCaps() {
        return new StatusException(StatusCode.RESOURCE_EXHAUSTED, Configuration.RPC_MAX_CAPS_PROP_NAME,
                options.maxCaps() + " caps are exported on " + connection + " already", null);
    }

    void unexport(int descriptor) {
        if ((descriptor & Incoming.RECEIVER_HOSTED) == 0) {
            synchronized (this) {
                exports.release(descriptor, 1);
            }
        }
    }

    /** The id-to-export map as published now; it never changes (see {@link ExportTable#map}). */
    org.agrona.collections.Int2ObjectHashMap<Export> exportMap() {
        return exports.map();
    }

    /** The export {@code id} names, or null; no lock, since the loop asks once per incoming call (see ExportTable). */
    Export export(int id) {
        return exports.get(id);
    }

    /** The value a received descriptor stands for: a new proxy (holding one reference), or our own cap back. */
    Object capFor(int descriptor, CapabilityType<?> type) {
        int id = descriptor & ~Incoming.RECEIVER_HOSTED;
        if ((descriptor & Incoming.RECEIVER_HOSTED) != 0) {
            Export export = export(id);
            if (export == null || export.revoked != null || !type.type().isInstance(export.implementation)) {
                throw new Codec.MalformedException("a receiver-hosted descriptor names export " + id
                        + ", which is not a live " + type.name() + " of this side");
            }
            return export.implementation;
        }
        if (id < ExportTable.FIRST_USER_ID) {
            throw new Codec.MalformedException("a sender-hosted descriptor names export " + id
                    + " (0 and 1 are never passed)");
        }
        Import entry;
        synchronized (this) {
            if (closed != null) {
                throw closedMeanwhile();
            }
            if (!mayImport(id)) {
                throw maxCapsImported();
            }
            entry = imports.addReference(id);
        }
        return CapProxy.create(this, type, entry, CLEANER);
    }

    /** {@link #capFor} of a descriptor whose reference {@code claim} took as its message arrived. */
    Object capFor(int descriptor, Import claim, CapabilityType<?> type) {
        if (claim == null) {
            return capFor(descriptor, type); // our own cap back, or a descriptor that is refused
        }
        if (claim == NOT_ADMITTED) {
            throw maxCapsImported();
        }
        synchronized (this) {
            if (closed != null) {
                throw closedMeanwhile(); // the claim went with the import table: nothing to give back
            }
        }
        // A claim revoked since gives a revoked proxy, whose calls fail here and whose close sends nothing.
        return CapProxy.create(this, type, claim, CLEANER);
    }

    /**
     * Stands for a sender-hosted descriptor that arrived while this side held {@code maxCaps} of the peer's caps:
     * its decode fails as {@link #capFor} would have, and its reference, never counted here, goes back as it is.
     */
    private static final Import NOT_ADMITTED = new Import(-1);

    /**
     * Loop: each sender-hosted descriptor's reference, counted in its import now, for a decode on a handler thread
     * (see {@link Incoming#claimCarried}). Null when no descriptor brings a reference, so that most calls take no lock.
     */
    Import[] claimCarried(int[] descriptors) {
        if (descriptors.length == 0) {
            return null; // nearly every call: no lock
        }
        Import[] claims = null;
        synchronized (this) {
            if (closed != null) {
                return null; // decoding fails on the closed connection, and nothing is owed to the peer
            }
            for (int i = 0; i < descriptors.length; i++) {
                int descriptor = descriptors[i];
                if ((descriptor & Incoming.RECEIVER_HOSTED) != 0 || descriptor < ExportTable.FIRST_USER_ID) {
                    continue;
                }
                if (claims == null) {
                    claims = new Import[descriptors.length];
                }
                claims[i] = mayImport(descriptor) ? imports.addReference(descriptor) : NOT_ADMITTED;
            }
        }
        return claims;
    }

    /** Holding the lock: whether one more reference to the peer's export {@code id} stays within maxCaps. */
    private boolean mayImport(int id) {
        return imports.get(id) != null || imports.size() < options.maxCaps();
    }

    private StatusException maxCapsImported() {
        return new StatusException(StatusCode.RESOURCE_EXHAUSTED, Configuration.RPC_MAX_CAPS_PROP_NAME,
                "this side holds " + options.maxCaps() + " of the peer's caps already", null);
    }

    private StatusException closedMeanwhile() {
        return new StatusException(StatusCode.UNAVAILABLE, "connection.closed", connection + " closed", null);
    }

    /** Gives back a reference a message brought and nobody took. */
    void releaseUnused(int descriptor) {
        sendRelease(descriptor, 1);
    }

    /** {@link #releaseUnused} of a descriptor whose reference {@code claim} took as its message arrived. */
    void releaseUnused(int descriptor, Import claim) {
        if (claim == NOT_ADMITTED) {
            releaseUnused(descriptor);
        } else if (claim != null) {
            release(claim);
        }
    }

    /** A proxy was closed or collected: its reference goes back to the peer. */
    void release(Import entry) {
        if (entry == peerBootstrap || entry == peerRuntime) {
            return;
        }
        boolean send;
        synchronized (this) {
            send = closed == null && imports.dropReference(entry);
        }
        if (send) {
            sendRelease(entry.id, 1);
        }
    }

    private void sendRelease(int exportId, int count) {
        UnsafeBuffer payload = Outgoing.release(exportId, count);
        try {
            connection.sendNotify(BOOTSTRAP_CAP, RELEASE, payload, 0, payload.capacity(),
                    connection.options().sendTimeoutMs());
        } catch (StatusException e) {
            // Closed meanwhile (the peer frees everything then), or it stopped reading: the close will follow.
        }
    }

    Import peerBootstrap() {
        return peerBootstrap;
    }

    // ---------------------------------------------------------------------------------------------------
    // Revocation and close
    // ---------------------------------------------------------------------------------------------------

    /** The served caps were unserved or replaced: the peer hears REVOKE, and calls running on them end. */
    void revoke(List<Served> caps, String reason) {
        for (Served served : caps) {
            List<Export> revoked;
            synchronized (this) {
                revoked = exports.revoke(served, reason);
            }
            for (Export export : revoked) {
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
        List<ImportTable.Import> held;
        synchronized (this) {
            closed = reason;
            held = List.copyOf(imports.all());
            imports.clear();
            exports.clear();
        }
        // The transport failed every call in flight (UNAVAILABLE, naming why) before it told us of the close.
        for (Import entry : held) {
            entry.revoked = "connection.closed";
        }
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
