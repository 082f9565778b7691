package dev.capwire.rpc;

import java.util.ArrayList;
import java.util.Collection;
import org.agrona.collections.Int2ObjectHashMap;

/**
 * The caps the peer hosts that this side holds references to. Every proxy owns one reference. Not
 * thread-safe: {@link CapTable} guards it. The calls in flight on a cap are not kept here: the
 * transport's request table holds them (each call's reply handler, a {@link Question} or the callback form's
 * handler, names its target), so a REVOKE finds them there ({@link Caller#failCallsOn}) and a call costs no second
 * table entry or lock.
 */
final class ImportTable {
    /** One of the peer's exports, as this side holds it. */
    static final class Import {
        final int id;
        int references;
        /** The peer's reason once it revoked the cap, or the connection's end; null while usable. */
        volatile String revoked;

        Import(int id) {
            this.id = id;
        }
    }

    private final Int2ObjectHashMap<Import> byId = new Int2ObjectHashMap<>();

    /** One more reference to the peer's export {@code id}. */
    Import addReference(int id) {
        Import entry = byId.get(id);
        if (entry == null) {
            entry = new Import(id);
            byId.put(id, entry);
        }
        entry.references++;
        return entry;
    }

    Import get(int id) {
        return byId.get(id);
    }

    /** Drops one reference; true when the peer should hear of it (the import is still held). */
    boolean dropReference(Import entry) {
        if (byId.get(entry.id) != entry || entry.references == 0) {
            return false; // revoked or closed already: everything was given back then
        }
        if (--entry.references == 0) {
            byId.remove(entry.id);
        }
        return true;
    }

    /** Removes {@code entry} after a REVOKE; returns how many references this side gives back. */
    int removeRevoked(Import entry) {
        if (byId.get(entry.id) != entry) {
            return 0;
        }
        byId.remove(entry.id);
        int references = entry.references;
        entry.references = 0;
        return references;
    }

    int size() {
        return byId.size();
    }

    Collection<Import> all() {
        return new ArrayList<>(byId.values());
    }

    void clear() {
        byId.clear();
    }
}
