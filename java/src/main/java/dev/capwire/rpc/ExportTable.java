package dev.capwire.rpc;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.agrona.collections.Int2ObjectHashMap;

/**
 * The caps one side of a connection hosts for its peer (docs/rpc-protocol.md, "Export ids"). Ids come from a
 * counter and are never reused, so a late message naming a freed id finds nothing rather than another
 * object. The same object exported twice keeps its id and gains a reference; the peer's RELEASE gives
 * references back and the entry goes at zero. Every method but {@link #get} needs {@link CapTable}'s lock;
 * {@link #get}, which every incoming call makes, needs none (see {@link #byId}).
 */
final class ExportTable {
    static final int FIRST_USER_ID = 2;
    private static final int LAST_ID = 0x7FFF_FFFF; // bit 31 of a descriptor says whose table

    /** One exported object. */
    static final class Export {
        final int id;
        final Object implementation;
        final CapabilityType<?> type;
        /** The served cap it was bootstrapped from, or null for a cap passed in a call or result. */
        final Served served;
        int references; // guarded by the CapTable's lock
        /** Why the export was revoked ("revoked: unserve"), or null; read by incoming calls without the lock. */
        volatile String revoked;

        Export(int id, Object implementation, CapabilityType<?> type, Served served) {
            this.id = id;
            this.implementation = implementation;
            this.type = type;
            this.served = served;
        }
    }

    private final int maxCaps;
    /**
     * Id to export, copy-on-write: a map is never changed once published here, so the loop finds each incoming
     * call's export with no lock (it took the connection's monitor per call before, the same monitor every
     * calling thread takes to export or release caps). A writer, holding the lock, copies the map, changes the
     * copy and publishes it through this volatile field; a reader sees the old map or the new one, whole. The
     * copy costs O(exports) per export added or freed, which is rare next to calls: a reference counted up or
     * down, or a revocation, changes the {@link Export}, not the map. (Agrona's map cannot be read while another
     * thread writes it: a rehash or a removal's compaction moves entries under the reader. A ConcurrentHashMap
     * would box the key, an Integer per call for ids above 127.)
     */
    private volatile Int2ObjectHashMap<Export> byId = new Int2ObjectHashMap<>();
    private final Map<Object, Export> byObject = new IdentityHashMap<>();
    private int nextId = FIRST_USER_ID;

    ExportTable(int maxCaps) {
        this.maxCaps = maxCaps;
    }

    /**
     * One more reference to {@code implementation} for the peer: its existing export, or a new one. Null when
     * a new one would exceed {@code maxCaps}.
     */
    Export export(Object implementation, CapabilityType<?> type, Served served) {
        Export export = byObject.get(implementation);
        if (export == null || export.revoked != null) {
            if (byId.size() >= maxCaps || nextId > LAST_ID) {
                return null;
            }
            export = new Export(nextId++, implementation, type, served);
            Int2ObjectHashMap<Export> changed = new Int2ObjectHashMap<>(byId);
            changed.put(export.id, export);
            byId = changed;
            byObject.put(implementation, export);
        }
        export.references++;
        return export;
    }

    /** The id-to-export map published now, which never changes (a writer publishes a new one); no lock. */
    Int2ObjectHashMap<Export> map() {
        return byId;
    }

    /** No lock needed (see {@link #byId}). */
    Export get(int id) {
        return byId.get(id);
    }

    /**
     * Gives back {@code count} references; false (and nothing changes) when the peer holds no such id or fewer
     * references: a protocol error on its side.
     */
    boolean release(int id, int count) {
        Export export = byId.get(id);
        if (export == null || count < 1 || count > export.references) {
            return false;
        }
        export.references -= count;
        if (export.references == 0) {
            Int2ObjectHashMap<Export> changed = new Int2ObjectHashMap<>(byId);
            changed.remove(id);
            byId = changed;
            if (byObject.get(export.implementation) == export) {
                byObject.remove(export.implementation);
            }
        }
        return true;
    }

    /**
     * Marks every export of {@code served} revoked and returns them. They stay until the peer releases them, so
     * their ids are still never reused; the object is no longer matched to them, so serving it again exports
     * it afresh.
     */
    List<Export> revoke(Served served, String reason) {
        List<Export> revoked = new ArrayList<>();
        for (Export export : byId.values()) {
            if (export.served == served && export.revoked == null) {
                export.revoked = reason;
                byObject.remove(export.implementation);
                revoked.add(export);
            }
        }
        return revoked;
    }

    int size() {
        return byId.size();
    }

    void clear() {
        byId = new Int2ObjectHashMap<>();
        byObject.clear();
    }
}
