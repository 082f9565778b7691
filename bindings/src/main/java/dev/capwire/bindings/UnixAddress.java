package dev.capwire.bindings;

import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A Unix-domain socket address: a filesystem path, or (Linux only) an abstract name, which lives in its own
 * namespace, needs no file and disappears with the last socket bound to it.
 */
public final class UnixAddress extends SocketAddress {
    private static final long serialVersionUID = 1L;
    /** sun_path holds 108 bytes; a filesystem path also needs its terminating NUL. */
    public static final int MAX_PATH_BYTES = 107;

    private final byte[] bytes;

    private UnixAddress(byte[] bytes) {
        this.bytes = bytes;
    }

    public static UnixAddress path(Path path) {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length > MAX_PATH_BYTES) {
            throw new IllegalArgumentException("Unix socket path must be 1 to " + MAX_PATH_BYTES + " bytes: "
                    + path + " is " + bytes.length);
        }
        return new UnixAddress(bytes);
    }

    public static UnixAddress abstractName(String name) {
        byte[] text = name.getBytes(StandardCharsets.UTF_8);
        if (text.length == 0 || text.length > MAX_PATH_BYTES) {
            throw new IllegalArgumentException("abstract name must be 1 to " + MAX_PATH_BYTES + " bytes");
        }
        byte[] bytes = new byte[text.length + 1];
        System.arraycopy(text, 0, bytes, 1, text.length);
        return new UnixAddress(bytes);
    }

    static UnixAddress ofRaw(byte[] bytes) {
        return new UnixAddress(bytes);
    }

    public boolean isAbstract() {
        return bytes.length > 0 && bytes[0] == 0;
    }

    /** The path, or the abstract name without its leading NUL. */
    public String name() {
        int from = isAbstract() ? 1 : 0;
        return new String(bytes, from, bytes.length - from, StandardCharsets.UTF_8);
    }

    /** The raw sun_path bytes, without a terminating NUL. */
    byte[] bytes() {
        return bytes.clone();
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof UnixAddress && Arrays.equals(((UnixAddress) other).bytes, bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        if (bytes.length == 0) {
            return "unix:(unnamed)";
        }
        return isAbstract() ? "unix:@" + name() : "unix:" + name();
    }
}
