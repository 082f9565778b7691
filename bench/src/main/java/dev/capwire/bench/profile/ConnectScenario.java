package dev.capwire.bench.profile;

import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.peers.PeerServer;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Recorder;

/**
 * Connection set-up: connect, the Hello handshake with a {@code HandshakeServer} (default checks, no secret, the
 * per-pid Hello rate limit lifted as in {@code HandshakeBenchmark}), and the graceful close, one after another per
 * thread; the latency is the whole of it.
 */
final class ConnectScenario implements Scenario {
    private static final FrameListener IGNORE = (connection, frame) -> { };

    private final PeerProcess server;
    private final Transport transport;
    private final Endpoint endpoint;
    private final ClientOptions options = ClientOptions.builder(PeerServer.HANDSHAKE_SERVICE).noSecret().build();

    ConnectScenario(Settings settings, List<String> serverJvmOptions) throws Exception {
        server = PeerProcess.start("handshake", settings.idleStrategy(), serverJvmOptions);
        transport = Transport.create(TransportOptions.defaults());
        endpoint = Endpoint.unix(server.socket());
    }

    @Override
    public void run(int thread, long deadlineNanos, Recorder latencies, LongAdder done) throws Exception {
        while (System.nanoTime() < deadlineNanos) {
            long start = System.nanoTime();
            NegotiatedConnection connection = HandshakeClient.connect(transport, endpoint, options, IGNORE);
            connection.close();
            latencies.recordValue(System.nanoTime() - start);
            done.increment();
        }
    }

    @Override
    public PeerProcess server() {
        return server;
    }

    @Override
    public void close() throws Exception {
        transport.close();
        server.close();
    }
}
