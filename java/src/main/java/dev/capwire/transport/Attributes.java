package dev.capwire.transport;

/**
 * One connection's attribute values, indexed by {@link AttributeKey#index()}. Reads are a volatile load and
 * an array index; writes are rare (a layer sets its state once per connection) and copy the array under the
 * lock, so a reader on another thread never sees a half-built array.
 */
final class Attributes {
    private static final Object[] NONE = new Object[0];

    private volatile Object[] values = NONE;

    <T> T get(AttributeKey<T> key) {
        Object[] current = values;
        int index = key.index();
        return index < current.length ? key.type().cast(current[index]) : null;
    }

    synchronized <T> void set(AttributeKey<T> key, T value) {
        T checked = key.type().cast(value);
        Object[] current = values;
        int index = key.index();
        Object[] updated = java.util.Arrays.copyOf(current, Math.max(current.length, index + 1));
        updated[index] = checked;
        values = updated;
    }

    /** Stores {@code value} unless the slot holds one already; returns what the slot holds afterwards. */
    synchronized <T> T setIfAbsent(AttributeKey<T> key, T value) {
        T existing = get(key);
        if (existing != null) {
            return existing;
        }
        set(key, value);
        return value;
    }
}
