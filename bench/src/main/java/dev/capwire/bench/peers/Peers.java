package dev.capwire.bench.peers;

import java.nio.file.Path;

/**
 * Builds the client for a benchmark's {@code peer} parameter: {@code capwire-<idle strategy>} (spin, yield,
 * backoff, sleep), {@code jdk} or {@code netty}.
 */
public final class Peers {
    private Peers() {
    }

    public static String serverKind(String peer) {
        return peer.startsWith("capwire") ? "capwire" : peer;
    }

    public static String idleStrategy(String peer) {
        return peer.startsWith("capwire-") ? peer.substring("capwire-".length()) : "backoff";
    }

    public static EchoPeer client(String peer, Path socket, int payloadBytes) throws Exception {
        switch (serverKind(peer)) {
            case "capwire":
                return new CapwirePeer(socket, idleStrategy(peer), payloadBytes);
            case "jdk":
                return new JdkPeer(socket, payloadBytes);
            case "netty":
                return new NettyPeer(socket, payloadBytes);
            default:
                throw new IllegalArgumentException("unknown peer " + peer);
        }
    }
}
