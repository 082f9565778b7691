package dev.capwire.handshake;

import dev.capwire.Configuration;
import dev.capwire.wire.proto.RefusedCode;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The connections one server holds, in all and per kernel-verified uid, counted from the accept (silent ones
 * too) to the close, and the Hello check that bounds them ({@code capwire.server.maxConnections},
 * {@code capwire.server.maxConnectionsPerUid}). Connections open and close on many loops at once, so it is
 * safe from any of them.
 */
final class ConnectionCounts {
    /** How long a client refused for a full server is told to wait before it tries again. */
    private static final long RETRY_AFTER_MS = 1000;

    private final int max;
    private final int maxPerUid;
    private final AtomicInteger open = new AtomicInteger();
    // Changed with merge/computeIfPresent, atomic per key: connections of one uid may open and close on different
    // loops at once, and a separate get-then-remove could drop a count another loop just raised.
    private final ConcurrentHashMap<Long, Integer> openPerUid = new ConcurrentHashMap<>();

    ConnectionCounts(int max, int maxPerUid) {
        this.max = max;
        this.maxPerUid = maxPerUid;
    }

    /** A connection was accepted (or adopted) from {@code uid}; -1 when the kernel did not say. */
    void opened(long uid) {
        open.incrementAndGet();
        if (uid >= 0) {
            openPerUid.merge(uid, 1, Integer::sum);
        }
    }

    /** The connection {@link #opened} counted has closed. */
    void closed(long uid) {
        open.decrementAndGet();
        if (uid >= 0) {
            openPerUid.computeIfPresent(uid, (key, count) -> count == 1 ? null : count - 1);
        }
    }

    int open() {
        return open.get();
    }

    /**
     * Step 3b of the Hello checks: null when the server, and {@code uid}'s share of it, are within their
     * bounds (this connection already counted), else the refusal that names the limit.
     */
    HelloChecks.Refusal refusal(long uid) {
        if (open.get() > max) {
            return new HelloChecks.Refusal(RefusedCode.RESOURCE_EXHAUSTED, "the server holds its maximum of "
                    + max + " connections", RETRY_AFTER_MS, Map.of("limit", Configuration.MAX_CONNECTIONS_PROP_NAME));
        }
        if (uid >= 0 && openPerUid.getOrDefault(uid, 0) > maxPerUid) {
            return new HelloChecks.Refusal(RefusedCode.RESOURCE_EXHAUSTED, "uid " + uid + " holds its maximum of "
                    + maxPerUid + " connections", RETRY_AFTER_MS,
                    Map.of("limit", Configuration.MAX_CONNECTIONS_PER_UID_PROP_NAME));
        }
        return null;
    }
}
