package dev.capwire.bench;

import dev.capwire.bench.peers.BrokerPeers;
import dev.capwire.bench.peers.PeerServer;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Round trip of an 8-byte call on one long-lived connection (issue 13: after the hand-off it equals a direct
 * connection's within noise, the proof that nothing is proxied):
 * <ul>
 * <li>{@code handed-off}: a connection opened through the broker and handed to the backend;
 * <li>{@code direct}, the baseline: a connection to the backend's own socket.
 * </ul>
 * The same backend JVM serves both; the broker JVM runs in both, idle once the hand-off is done.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g"})
public class BrokerRoundTripBenchmark {
    @Param({"handed-off", "direct"})
    public String peer;

    private BrokerPeers peers;
    private Transport transport;
    private NegotiatedConnection connection;
    private final UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);

    @Setup(Level.Trial)
    public void start() throws Exception {
        peers = BrokerPeers.start();
        transport = Transport.create(TransportOptions.defaults());
        boolean direct = "direct".equals(peer);
        connection = HandshakeClient.connect(transport, peers.endpoint(direct),
                ClientOptions.builder(PeerServer.HANDSHAKE_SERVICE).noSecret().build(), (c, frame) -> { });
        if (connection.handedOff() == direct) {
            throw new IllegalStateException(peer + ": handedOff() = " + connection.handedOff());
        }
    }

    @TearDown(Level.Trial)
    public void stop() throws Exception {
        connection.close();
        transport.close();
        peers.close();
    }

    @Benchmark
    public int call() {
        return connection.connection().call(1, 1, payload, 0, payload.capacity(), 10_000).payload().length;
    }
}
