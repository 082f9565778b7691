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
 * references back and the entry goes at zero. Not thread-safe: {@link RpcConnection} guards it.
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
        int references;
        /** Why the export was revoked ("revoked: unserve"), or null. */
        String revoked;

        Export(int id, Object implementation, CapabilityType<?> type, Served served) {
            this.id = id;
            this.implementation = implementation;
            this.type = type;
            this.served = served;
        }
    }

    private final int maxCaps;
    private final Int2ObjectHashMap<Export> byId = new Int2ObjectHashMap<>();
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
            byId.put(export.id, export);
            byObject.put(implementation, export);
        }
        export.references++;
        return export;
    }

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
            byId.remove(id);
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
        byId.clear();
        byObject.clear();
    }
}
