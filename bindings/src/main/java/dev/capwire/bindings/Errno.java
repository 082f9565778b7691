package dev.capwire.bindings;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.agrona.BufferUtil;
import org.agrona.collections.Int2ObjectHashMap;
import org.agrona.collections.Object2IntHashMap;

/**
 * Errno names and values as this platform defines them, read once from the native table, so no number is
 * hard-coded in Java.
 */
public final class Errno {
    private static final Int2ObjectHashMap<String> NAMES = new Int2ObjectHashMap<>();
    private static final Object2IntHashMap<String> VALUES = new Object2IntHashMap<>(0);

    static {
        ByteBuffer name = BufferUtil.allocateDirectAligned(64, 8);
        long address = BufferUtil.address(name);
        for (int index = 0; ; index++) {
            int value = Native.errnoSymbol(index, address, name.capacity());
            if (value < 0) {
                break;
            }
            byte[] bytes = new byte[64];
            name.get(0, bytes);
            int length = 0;
            while (bytes[length] != 0) {
                length++;
            }
            String symbol = new String(bytes, 0, length, StandardCharsets.US_ASCII);
            NAMES.putIfAbsent(value, symbol); // EAGAIN and EWOULDBLOCK may share a value: the first name wins
            VALUES.put(symbol, value);
        }
    }

    public static final int EPERM = value("EPERM");
    public static final int ENOENT = value("ENOENT");
    public static final int EINTR = value("EINTR");
    public static final int EBADF = value("EBADF");
    public static final int EAGAIN = value("EAGAIN");
    public static final int EINVAL = value("EINVAL");
    public static final int EPIPE = value("EPIPE");
    public static final int EMSGSIZE = value("EMSGSIZE");
    public static final int EADDRINUSE = value("EADDRINUSE");
    public static final int ECONNRESET = value("ECONNRESET");
    public static final int ECONNREFUSED = value("ECONNREFUSED");
    public static final int ENOTCONN = value("ENOTCONN");
    public static final int EINPROGRESS = value("EINPROGRESS");
    public static final int ETIMEDOUT = value("ETIMEDOUT");
    public static final int ENOPROTOOPT = value("ENOPROTOOPT");
    public static final int EOPNOTSUPP = value("EOPNOTSUPP");

    private Errno() {
    }

    /** The value of an errno symbol on this platform; throws if the native table does not list it. */
    public static int value(String symbol) {
        int value = VALUES.getValue(symbol);
        if (value == 0) {
            throw new IllegalArgumentException("errno symbol not in the native table: " + symbol);
        }
        return value;
    }

    /** The symbol for a positive errno, or {@code errno <n>} for one the table does not list. */
    public static String name(int errno) {
        String name = NAMES.get(Math.abs(errno));
        return name != null ? name : "errno " + Math.abs(errno);
    }
}
