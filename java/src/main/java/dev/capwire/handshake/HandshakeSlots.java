package dev.capwire.handshake;

import dev.capwire.Configuration;
import dev.capwire.transport.Connection;
import java.net.InetSocketAddress;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The handshakes in progress on one server (or broker), counted in all and per peer, each bounded
 * ({@code capwire.server.maxHandshaking}, {@code capwire.server.maxHandshakingPerPeer}): a connection takes a
 * slot when it is accepted and gives it back when its handshake ends, so silent connections cannot hold buffers
 * without bound. Safe from any loop.
 */
public final class HandshakeSlots {
    private final int max;
    private final int maxPerPeer;
    private final AtomicInteger inProgress = new AtomicInteger();
    // Keyed by peerOf(); changed with merge/computeIfPresent, atomic per key.
    private final ConcurrentHashMap<String, Integer> perPeer = new ConcurrentHashMap<>();

    public HandshakeSlots(int max, int maxPerPeer) {
        if (max < 1 || maxPerPeer < 1) {
            throw new IllegalArgumentException("maxHandshaking and maxHandshakingPerPeer must be at least 1: " + max
                    + ", " + maxPerPeer);
        }
        this.max = max;
        this.maxPerPeer = maxPerPeer;
    }

    /** Bounds at their {@code capwire.server.*} properties. */
    public static HandshakeSlots withDefaults() {
        return new HandshakeSlots(Configuration.maxHandshaking(), Configuration.maxHandshakingPerPeer());
    }

    /**
     * Takes a slot for a handshake from {@code peer} (null: unknown, counted in all only): null when taken, else
     * why not, taking nothing. The peer's bound is checked first, so a peer that fills its own share is told so.
     */
    public String take(String peer) {
        if (peer != null && perPeer.merge(peer, 1, Integer::sum) > maxPerPeer) {
            releasePeer(peer);
            return "peer " + peer + " already has " + maxPerPeer + " handshakes in progress ("
                    + Configuration.MAX_HANDSHAKING_PER_PEER_PROP_NAME + ")";
        }
        if (inProgress.incrementAndGet() > max) {
            inProgress.decrementAndGet();
            if (peer != null) {
                releasePeer(peer);
            }
            return max + " handshakes already in progress (" + Configuration.MAX_HANDSHAKING_PROP_NAME + ")";
        }
        return null;
    }

    /** Gives back a slot {@link #take} gave {@code peer}. */
    public void release(String peer) {
        inProgress.decrementAndGet();
        if (peer != null) {
            releasePeer(peer);
        }
    }

    private void releasePeer(String peer) {
        perPeer.computeIfPresent(peer, (key, count) -> count == 1 ? null : count - 1);
    }

    /**
     * Who a connection's handshake slot is counted against: the kernel-verified uid on a Unix socket
     * ({@code "uid 1000"}), the remote IP address on TCP ({@code "127.0.0.2"}; its port changes per
     * connection), null when neither is known. The two forms never collide, so a Unix-socket peer and a TCP
     * peer never share a count.
     */
    public static String peerOf(Connection connection, long uid) {
        if (uid >= 0) {
            return "uid " + uid;
        }
        if (connection.remoteAddress() instanceof InetSocketAddress) {
            return ((InetSocketAddress) connection.remoteAddress()).getAddress().getHostAddress();
        }
        return null;
    }
}
