package dev.capwire.transport;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A typed slot on every {@link Connection}, owned by whoever created the key. Each layer (the handshake, the
 * RPC layer, the application) keeps its per-connection state under its own key, so no layer can overwrite or
 * misread another's, and nobody casts: the key's type is checked once, when the value is stored.
 *
 * <p>Create keys once, as constants: each key takes a slot index for the life of the JVM.
 *
 * <pre>{@code
 * static final AttributeKey<Session> SESSION = AttributeKey.create("myapp.session", Session.class);
 * connection.setAttribute(SESSION, new Session());
 * Session session = connection.attribute(SESSION);
 * }</pre>
 */
public final class AttributeKey<T> {
    private static final AtomicInteger NEXT_INDEX = new AtomicInteger();

    private final String name;
    private final Class<T> type;
    private final int index;

    private AttributeKey(String name, Class<T> type) {
        this.name = Objects.requireNonNull(name, "name");
        this.type = Objects.requireNonNull(type, "type");
        this.index = NEXT_INDEX.getAndIncrement();
    }

    /** A new key; {@code name} is for messages only and need not be unique (two keys never share a slot). */
    public static <T> AttributeKey<T> create(String name, Class<T> type) {
        return new AttributeKey<>(name, type);
    }

    public String name() {
        return name;
    }

    public Class<T> type() {
        return type;
    }

    int index() {
        return index;
    }

    @Override
    public String toString() {
        return "attribute " + name + " (" + type.getSimpleName() + ")";
    }
}
