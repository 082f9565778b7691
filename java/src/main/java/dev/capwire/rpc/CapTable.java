package dev.capwire.rpc;

import dev.capwire.Configuration;
import dev.capwire.rpc.ExportTable.Export;
import dev.capwire.rpc.ImportTable.Import;
import dev.capwire.transport.Connection;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.lang.ref.Cleaner;
import java.util.List;
import org.agrona.collections.Int2ObjectHashMap;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One connection's cap table (docs/rpc-protocol.md, "Export ids"): the caps this side exports to the peer and
 * the peer's caps it imports, and how a cap value becomes a descriptor on the way out ({@link Outgoing.CapExporter})
 * and a descriptor a value on the way in ({@link Incoming.CapImporter}). Calls and releases come from any thread
 * and REVOKE, RELEASE and the close from the loop, so both tables are guarded by this object's lock, held for table
 * work only, never while sending; the one exception is {@link #export(int)}, which every incoming call makes, and
 * which needs no lock (see {@link ExportTable}).
 *
 * <p>A reference is counted where it is created and given back exactly once: a proxy's close or collection, a
 * descriptor nobody decoded, the peer's REVOKE (everything held goes back at once), or the close (nothing goes
 * back: the peer frees its side too).
 */
final class CapTable implements Outgoing.CapExporter, Incoming.CapImporter {
    private static final Cleaner CLEANER = Cleaner.create();
    /**
     * Stands for a sender-hosted descriptor that arrived while this side held {@code maxCaps} of the peer's caps:
     * its decode fails as {@link #capFor} would have, and its reference, never counted here, goes back as it is.
     */
    private static final Import NOT_ADMITTED = new Import(-1);

    /** The connection the proxies made here call through. */
    private final RpcConnection rpc;
    private final Connection connection;
    private final int maxCaps;
    private final ExportTable exports;
    private final ImportTable imports = new ImportTable();
    /** The peer's bootstrap and runtime caps: always there, never counted or released. */
    private final Import peerBootstrap = new Import(RpcConnection.BOOTSTRAP_CAP);
    private final Import peerRuntime = new Import(RpcConnection.RUNTIME_CAP);
    private boolean closed; // guarded by this

    CapTable(RpcConnection rpc, Connection connection, int maxCaps) {
        this.rpc = rpc;
        this.connection = connection;
        this.maxCaps = maxCaps;
        this.exports = new ExportTable(maxCaps);
    }

    Import peerBootstrap() {
        return peerBootstrap;
    }

    Import peerRuntime() {
        return peerRuntime;
    }

    synchronized int exportCount() {
        return exports.size();
    }

    synchronized int importCount() {
        return imports.size();
    }

    // ---------------------------------------------------------------------------------------------------
    // Exports: caps this side hosts
    // ---------------------------------------------------------------------------------------------------

    /** The descriptor that passes {@code cap} to the peer: an export of ours, or the peer's own cap back. */
    @Override
    public int descriptorFor(Object cap, CapabilityType<?> type) {
        CapProxy proxy = CapProxy.of(cap);
        if (proxy != null) {
            if (proxy.connection() != rpc) {
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
            throw maxCapsExported();
        }
        return export.id;
    }

    @Override
    public void unexport(int descriptor) {
        if ((descriptor & Incoming.RECEIVER_HOSTED) == 0) {
            synchronized (this) {
                exports.release(descriptor, 1);
            }
        }
    }

    /**
     * A served cap exported to the peer by bootstrap. Null when the table is full, or when {@code served} was
     * withdrawn since the bootstrap found it: checked under this lock, which {@link #revokeExports} takes too, so
     * an unserve either sees this export and revokes it, or this sees the withdrawal.
     */
    synchronized Export exportServed(Served served) {
        if (served.isWithdrawn()) {
            return null;
        }
        return exports.export(served.implementation, served.type, served);
    }

    StatusException maxCapsExported() {
        return new StatusException(StatusCode.RESOURCE_EXHAUSTED, Configuration.RPC_MAX_CAPS_PROP_NAME,
                maxCaps + " caps are exported on " + connection + " already", null);
    }

    /** The id-to-export map as published now; it never changes (see {@link ExportTable#map}). */
    Int2ObjectHashMap<Export> exportMap() {
        return exports.map();
    }

    /** The export {@code id} names, or null; no lock, since the loop asks once per incoming call (see ExportTable). */
    Export export(int id) {
        return exports.get(id);
    }

    /** Loop: the peer's RELEASE; false when this side does not hold that many references (a protocol error). */
    synchronized boolean releasedByPeer(int exportId, int count) {
        return exports.release(exportId, count);
    }

    /**
     * Marks every export of {@code served} revoked and returns them: they stay until the peer releases them, and a
     * call that arrives on one meanwhile is refused with the reason.
     */
    synchronized List<Export> revokeExports(Served served, String reason) {
        return exports.revoke(served, reason);
    }

    // ---------------------------------------------------------------------------------------------------
    // Imports: the peer's caps this side holds
    // ---------------------------------------------------------------------------------------------------

    /** The value a received descriptor stands for: a new proxy (holding one reference), or our own cap back. */
    @Override
    public Object capFor(int descriptor, CapabilityType<?> type) {
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
            if (closed) {
                throw closedMeanwhile();
            }
            if (!mayImport(id)) {
                throw maxCapsImported();
            }
            entry = imports.addReference(id);
        }
        return CapProxy.create(rpc, type, entry, CLEANER);
    }

    /** {@link #capFor} of a descriptor whose reference {@code claim} took as its message arrived. */
    @Override
    public Object capFor(int descriptor, Import claim, CapabilityType<?> type) {
        if (claim == null) {
            return capFor(descriptor, type); // our own cap back, or a descriptor that is refused
        }
        if (claim == NOT_ADMITTED) {
            throw maxCapsImported();
        }
        synchronized (this) {
            if (closed) {
                throw closedMeanwhile(); // the claim went with the import table: nothing to give back
            }
        }
        // A claim revoked since gives a revoked proxy, whose calls fail here and whose close sends nothing.
        return CapProxy.create(rpc, type, claim, CLEANER);
    }

    /**
     * Loop: each sender-hosted descriptor's reference, counted in its import now, for a decode on a handler thread
     * (see {@link Incoming#claimCarried}). Null when no descriptor brings a reference, so that most calls take no lock.
     */
    @Override
    public Import[] claimCarried(int[] descriptors) {
        if (descriptors.length == 0) {
            return null; // nearly every call: no lock
        }
        Import[] claims = null;
        synchronized (this) {
            if (closed) {
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
        return imports.get(id) != null || imports.size() < maxCaps;
    }

    private StatusException maxCapsImported() {
        return new StatusException(StatusCode.RESOURCE_EXHAUSTED, Configuration.RPC_MAX_CAPS_PROP_NAME,
                "this side holds " + maxCaps + " of the peer's caps already", null);
    }

    private StatusException closedMeanwhile() {
        return new StatusException(StatusCode.UNAVAILABLE, "connection.closed", connection + " closed", null);
    }

    /** Gives back a reference a message brought and nobody took. */
    @Override
    public void releaseUnused(int descriptor) {
        sendRelease(descriptor, 1);
    }

    /** {@link #releaseUnused} of a descriptor whose reference {@code claim} took as its message arrived. */
    @Override
    public void releaseUnused(int descriptor, Import claim) {
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
            send = !closed && imports.dropReference(entry);
        }
        if (send) {
            sendRelease(entry.id, 1);
        }
    }

    /**
     * Loop: the peer revoked its export {@code exportId}. The import, marked revoked so that later calls on its
     * proxies fail without a round trip, leaves the table, and every reference this side held goes back in one
     * RELEASE. Returns it, for its calls in flight to be failed; null when this side held none.
     */
    Import revokedByPeer(int exportId, String reason) {
        Import revoked;
        int references;
        synchronized (this) {
            revoked = imports.get(exportId);
            if (revoked == null) {
                return null; // released already: nothing to fail, nothing to give back
            }
            revoked.revoked = reason;
            references = imports.removeRevoked(revoked);
        }
        if (references > 0) {
            sendRelease(exportId, references);
        }
        return revoked;
    }

    private void sendRelease(int exportId, int count) {
        UnsafeBuffer payload = Outgoing.release(exportId, count);
        try {
            connection.sendNotify(RpcConnection.BOOTSTRAP_CAP, RpcConnection.RELEASE, payload, 0, payload.capacity(),
                    connection.options().sendTimeoutMs());
        } catch (StatusException e) {
            // Closed meanwhile (the peer frees everything then), or it stopped reading: the close will follow.
        }
    }

    /**
     * The connection closed: both tables empty, and every proxy still held sees its cap gone. Nothing is given
     * back, since the peer frees its side of the connection too; descriptors that arrive later are refused.
     */
    void close() {
        List<Import> held;
        synchronized (this) {
            closed = true;
            held = List.copyOf(imports.all());
            imports.clear();
            exports.clear();
        }
        for (Import entry : held) {
            entry.revoked = "connection.closed";
        }
    }
}
