package dev.capwire.bench;

import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.peers.Peers;
import dev.capwire.bench.rpc.UnaryPeer;
import dev.capwire.bench.rpc.proto.EchoRequest;
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
 * Sequential blocking calls between two JVMs over a Unix socket with the transport as a user gets it by default:
 * one event-loop thread on each side with the default idle strategy ({@code backoff}), and the calling thread
 * blocked in the call until its answer arrives. {@link RpcRoundTripBenchmark} measures the fastest set-up (spinning
 * loops, the client's loop run by the calling thread); this one measures what {@code files.stat(request)} costs
 * an application that changed nothing. Sample mode gives p50 and p99. The peers (all but {@code jdk} made by
 * {@link UnaryPeer}):
 * <ul>
 * <li>{@code rpc}: {@code BenchCap.echoOnLoop}, a small protobuf message to a {@code nonBlocking} handler, called
 *     through the blocking stub;
 * <li>{@code rpc-executor}: {@code BenchCap.echo}, the same with a default handler, run on the RPC handler
 *     executor (the default pool's threads on Java 17-20): what a method not marked {@code nonBlocking} costs;
 * <li>{@code raw-request}: {@code Connection.call} of the same bytes, answered on the server's loop;
 * <li>{@code jdk}: the JDK's blocking {@code SocketChannel} echoing the same number of bytes, thread per side: the
 *     baseline a default set-up is held to;
 * <li>{@code grpc}: grpc-java's blocking stub over Netty epoll on a domain socket, its defaults.
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g"})
public class BlockingCallBenchmark {
    private static final String BACKOFF = "backoff";

    @Param({"rpc", "rpc-executor", "raw-request", "jdk", "grpc"})
    public String peer;

    @Param("64")
    public int payloadBytes;

    private UnaryPeer unary;

    @Setup(Level.Trial)
    public void connect() throws Exception {
        EchoRequest request = UnaryPeer.request(payloadBytes);
        if (peer.equals("jdk")) {
            PeerProcess server = PeerProcess.start(Peers.serverKind("jdk"), Peers.idleStrategy("jdk"));
            unary = UnaryPeer.echo(server, Peers.client("jdk", server.socket(), request.getSerializedSize()));
        } else {
            unary = UnaryPeer.start(peer, BACKOFF, false, request);
        }
    }

    @TearDown(Level.Trial)
    public void disconnect() throws Exception {
        unary.close();
    }

    @Benchmark
    public Object call() {
        return unary.call();
    }
}
