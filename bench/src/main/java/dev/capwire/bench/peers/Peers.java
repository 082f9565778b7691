package dev.capwire.bench.peers;

import java.nio.file.Path;

/**
 * Builds the client for a benchmark's {@code peer} parameter: {@code capwire-<idle strategy>} (spin, yield,
 * backoff, sleep: the NOTIFY echo), {@code capwire-request} (request/reply through a {@code ReplyHandler}, default
 * idle strategy; {@code capwire-request-invoker}: the benchmark thread drives the client's transport), {@code jdk}, {@code netty} or {@code jdk-raw} (the pipelined raw framed echo).
 */
public final class Peers {
    private Peers() {
    }

    public static String serverKind(String peer) {
        return peer.startsWith("capwire") ? "capwire" : peer;
    }

    private static final String REQUEST = "capwire-request";

    public static String idleStrategy(String peer) {
        return peer.startsWith("capwire-") && !peer.startsWith(REQUEST) ? peer.substring("capwire-".length())
                : "backoff";
    }

    /**
     * The sending side of a one-way stream for a {@code StreamBenchmark} or {@code BulkBenchmark} peer:
     * {@code capwire-offer}, {@code capwire-batch} (and {@code capwire-batch-invoker}, whose benchmark thread runs
     * the loop), {@code capwire-send} ({@code sendNotify}, which fragments) or {@code jdk-batch}.
     */
    public static StreamPeer streamClient(String peer, Path socket, int payloadBytes) throws Exception {
        switch (peer) {
            case "capwire-offer":
                return new CapwireStreamPeer(socket, payloadBytes, CapwireStreamPeer.Mode.OFFER);
            case "capwire-batch":
                return new CapwireStreamPeer(socket, payloadBytes, CapwireStreamPeer.Mode.BATCH);
            case "capwire-batch-invoker":
                return new CapwireStreamPeer(socket, payloadBytes, CapwireStreamPeer.Mode.BATCH, true);
            case "capwire-send":
                return new CapwireStreamPeer(socket, payloadBytes, CapwireStreamPeer.Mode.SEND);
            case "jdk-batch":
                return new JdkStreamPeer(socket, payloadBytes);
            default:
                throw new IllegalArgumentException("unknown stream peer " + peer);
        }
    }

    /** The sink a stream peer sends to. */
    public static String sinkKind(String peer) {
        return peer.startsWith("capwire") ? "capwire-sink" : "jdk-sink";
    }

    public static EchoPeer client(String peer, Path socket, int payloadBytes) throws Exception {
        switch (serverKind(peer)) {
            case "capwire":
                if (peer.startsWith(REQUEST)) {
                    return new CapwireRequestPeer(socket, peer.equals(REQUEST + "-invoker"), payloadBytes);
                }
                return new CapwirePeer(socket, idleStrategy(peer), payloadBytes);
            case "jdk":
                return new JdkPeer(socket, payloadBytes);
            case "netty":
                return new NettyPeer(socket, payloadBytes);
            case "jdk-raw":
                return new JdkRawEchoPeer(socket, payloadBytes);
            default:
                throw new IllegalArgumentException("unknown peer " + peer);
        }
    }
}
