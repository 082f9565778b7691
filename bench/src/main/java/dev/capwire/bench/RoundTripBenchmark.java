package dev.capwire.bench;

import dev.capwire.bench.peers.EchoPeer;
import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.peers.Peers;
import java.util.concurrent.TimeUnit;
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
 * Sequential round trips of one 64-byte frame between two JVMs over a Unix socket: Capwire with spinning
 * and with backing-off event loops, against the JDK's blocking SocketChannel and Netty's epoll transport,
 * in the same run. Sample mode gives the latency distribution (p50, p99).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g"})
public class RoundTripBenchmark {
    @Param({"capwire-spin", "capwire-backoff", "jdk", "netty"})
    public String peer;

    @Param("64")
    public int payloadBytes;

    private PeerProcess server;
    private EchoPeer client;

    @Setup(Level.Trial)
    public void connect() throws Exception {
        server = PeerProcess.start(Peers.serverKind(peer), Peers.idleStrategy(peer));
        client = Peers.client(peer, server.socket(), payloadBytes);
    }

    @TearDown(Level.Trial)
    public void disconnect() throws Exception {
        client.close();
        server.close();
    }

    @Benchmark
    public void roundTrip() {
        client.roundTrip();
    }
}
