package dev.capwire.bench;

import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.peers.Peers;
import dev.capwire.bench.peers.StreamPeer;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.TearDown;

/**
 * What the one-way benchmarks ({@code StreamBenchmark}, {@code BulkBenchmark}) share: a sink in a child JVM and
 * the sending peer, a sync at the end of every iteration (the sink echoes a sync frame once it has decoded every
 * frame before it, so the next iteration starts with an empty socket and an iteration counts only what arrived),
 * and both closed at the end of the trial.
 */
public abstract class OneWayTrial {
    private PeerProcess sink;
    /** The sending side, once {@link #open} has run. */
    protected StreamPeer client;

    /** Starts the sink for {@code peer} and connects the peer to it; call from the benchmark's trial setup. */
    protected void open(String peer, int payloadBytes) throws Exception {
        sink = PeerProcess.start(Peers.sinkKind(peer), "backoff");
        client = Peers.streamClient(peer, sink.socket(), payloadBytes);
    }

    @TearDown(Level.Iteration)
    public void sync() {
        client.sync();
    }

    @TearDown(Level.Trial)
    public void disconnect() throws Exception {
        client.close();
        sink.close();
    }
}
