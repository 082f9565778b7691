package dev.capwire.rpc;

/**
 * What every proxy for a peer's cap also implements, besides the cap's own interface: cast a proxy to it to
 * release it early or ask whether it still works. Each proxy holds one reference to the peer's export;
 * {@link #close()} gives it back (a proxy never closed gives it back once it is garbage collected), and the
 * peer frees the export when no reference is left.
 */
public interface RemoteCapability extends AutoCloseable {
    /** Releases this proxy's reference; calls on it then fail with UNAVAILABLE. Idempotent. */
    @Override
    void close();

    /** Why the peer revoked the cap (such as {@code revoked: unserve}), or null while it has not. */
    String revocation();

    /** The cap's export id in the peer's table (0 bootstrap and 1 runtime are never proxies; 2 and up). */
    int exportId();
}
