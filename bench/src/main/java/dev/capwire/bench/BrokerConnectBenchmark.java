package dev.capwire.bench;

import dev.capwire.bench.peers.BrokerPeers;
import dev.capwire.bench.peers.PeerServer;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
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
 * Time from connect to the first answered call (issue 13's target: through the broker at most 2x the direct
 * path), one after another, client, broker and backend each in its own JVM. One operation is connect, Hello and
 * its answer, one 8-byte call and its reply, and a graceful close:
 * <ul>
 * <li>{@code broker}: to the broker, which checks the Hello and hands the socket to the backend; the call goes to
 *     the backend over that same socket once its takeover frame arrived ({@code callsBeforeTakeover(false)});
 * <li>{@code broker-early}: the same with the default client ({@code callsBeforeTakeover}): the call goes out as
 *     soon as the broker's Negotiated came, and waits in the socket for the backend to take over;
 * <li>{@code direct}, the baseline: to the backend's own socket, Hello answered by the backend itself.
 * </ul>
 * Each operation is timed (sample mode): the goal is read at the median, with the 99th percentile and the mean
 * beside it. Three JVMs on a small host make rare operations of milliseconds (a loop thread waiting for a core),
 * and those move a mean far more than the work the broker adds; the median shows that work, the tail shows them.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g"})
public class BrokerConnectBenchmark {
    private static final FrameListener IGNORE = (connection, frame) -> { };

    @Param({"broker", "broker-early", "direct"})
    public String peer;

    private BrokerPeers peers;
    private Endpoint endpoint;
    private Transport transport;
    private ClientOptions options;
    private final UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);

    @Setup(Level.Trial)
    public void start() throws Exception {
        peers = BrokerPeers.start();
        endpoint = peers.endpoint("direct".equals(peer));
        options = ClientOptions.builder(PeerServer.HANDSHAKE_SERVICE).noSecret()
                .callsBeforeTakeover("broker-early".equals(peer)).build();
        transport = Transport.create(TransportOptions.defaults());
        connectAndCall();
    }

    /** Every connection of the iteration closed on this side: nothing piles up. */
    @TearDown(Level.Iteration)
    public void nothingPiledUp() throws Exception {
        for (int i = 0; i < 100 && transport.connectionCount() != 0; i++) {
            Thread.sleep(10);
        }
        if (transport.connectionCount() != 0) {
            throw new IllegalStateException(transport.connectionCount() + " client connections left open");
        }
    }

    @TearDown(Level.Trial)
    public void stop() throws Exception {
        transport.close();
        peers.close();
    }

    @Benchmark
    public int connectAndCall() throws Exception {
        try (NegotiatedConnection connection = HandshakeClient.connect(transport, endpoint, options, IGNORE)) {
            if (connection.handedOff() == "direct".equals(peer)) {
                throw new IllegalStateException(peer + ": handedOff() = " + connection.handedOff());
            }
            return connection.connection().call(1, 1, payload, 0, payload.capacity(), 10_000).payload().length;
        }
    }
}
