package dev.capwire.bench.rpc;

import dev.capwire.bench.peers.PeerProcess;
import java.io.IOException;

/**
 * The server JVM's bytes allocated per call over a trial's measured iterations (JMH's {@code -prof gc} sees
 * only the client's JVM): asks the peer ({@link RpcPeerServer}, command {@code allocated}) at the start and end
 * of each measured iteration and counts the calls made meanwhile.
 */
public final class ServerAllocation {
    private final PeerProcess server;
    private boolean measuring;
    private long iterationBytes;
    private long iterationCalls;
    private long measuredBytes;
    private long measuredCalls;

    public ServerAllocation(PeerProcess server) {
        this.server = server;
    }

    /** At an iteration's start: {@code calls} made so far. */
    public void startIteration(boolean measurement, long calls) throws IOException {
        measuring = measurement;
        if (measuring) {
            iterationBytes = allocated();
            iterationCalls = calls;
        }
    }

    /** At an iteration's end (after its calls were answered): {@code calls} made so far. */
    public void endIteration(long calls) throws IOException {
        if (measuring) {
            measuredBytes += allocated() - iterationBytes;
            measuredCalls += calls - iterationCalls;
        }
    }

    /** Prints the trial's figure, as {@code server allocation, peer P: N B/call (C calls measured)}. */
    public void print(String peer) {
        if (measuredCalls > 0) {
            System.out.printf("%nserver allocation, peer %s: %.1f B/call (%d calls measured)%n", peer,
                    (double) measuredBytes / measuredCalls, measuredCalls);
        }
    }

    private long allocated() throws IOException {
        String answer = server.ask("allocated", "ALLOCATED ");
        if (answer == null) {
            throw new IOException("the server exited");
        }
        return Long.parseLong(answer.substring("ALLOCATED ".length()));
    }
}
