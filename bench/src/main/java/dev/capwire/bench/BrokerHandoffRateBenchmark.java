package dev.capwire.bench;

import dev.capwire.bench.peers.BrokerPeers;
import dev.capwire.bench.peers.PeerServer;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Hand-offs per second the broker sustains: {@value #THREADS} client threads connect and close as fast as they
 * can, the broker and backend each in its own JVM. One operation is connect + Hello + (for {@code broker}) the
 * hand-off and the backend's takeover frame + graceful close. The baseline {@code direct} does the same against
 * the backend's own socket: handshakes per second a plain server sustains on the same host.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Threads(BrokerHandoffRateBenchmark.THREADS)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g"})
public class BrokerHandoffRateBenchmark {
    static final int THREADS = 4;

    @Param({"broker", "direct"})
    public String peer;

    private BrokerPeers peers;
    private Endpoint endpoint;
    private Transport transport;
    /** Waits for the takeover frame, so that each operation is a whole hand-off (the default would not wait). */
    private final ClientOptions options = ClientOptions.builder(PeerServer.HANDSHAKE_SERVICE).noSecret()
            .callsBeforeTakeover(false).build();

    @Setup
    public void start() throws Exception {
        peers = BrokerPeers.start();
        endpoint = peers.endpoint("direct".equals(peer));
        transport = Transport.create(TransportOptions.defaults());
    }

    @TearDown
    public void stop() throws Exception {
        transport.close();
        peers.close();
    }

    @Benchmark
    public long connectAndClose() throws Exception {
        try (NegotiatedConnection connection = HandshakeClient.connect(transport, endpoint, options,
                (c, frame) -> { })) {
            return connection.connectionId();
        }
    }
}
