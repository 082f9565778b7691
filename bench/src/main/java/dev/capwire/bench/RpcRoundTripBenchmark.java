package dev.capwire.bench;

import dev.capwire.bench.peers.CapwirePeer;
import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.rpc.ServerAllocation;
import dev.capwire.bench.rpc.UnaryPeer;
import dev.capwire.bench.rpc.proto.EchoRequest;
import java.io.IOException;
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
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;

/**
 * Sequential unary calls between two JVMs over a Unix socket, spinning loops on both sides (the client's
 * transport in invoker mode, driven by the benchmark thread while it waits, as in {@link RoundTripBenchmark}'s
 * {@code capwire-spin}): Capwire RPC against Capwire's raw transport round trip and grpc-java, in one run.
 * Sample mode gives p50 and p99. The peers (all but {@code raw-notify} made by {@link UnaryPeer}):
 * <ul>
 * <li>{@code rpc}: {@code BenchCap.echoOnLoop}, a small protobuf message to a {@code nonBlocking} handler;
 * <li>{@code rpc-executor}: {@code BenchCap.echo}, the same to a handler on the RPC executor;
 * <li>{@code rpc-bytes}: {@code BenchCap.bytesOnLoop}, the message's bytes as {@code byte[]}: the RPC layer's
 *     own cost with no protobuf (run with {@code -prof gc} for the allocation per call);
 * <li>{@code raw-request}: {@code Connection.call} of the same bytes, answered on the server's loop: the
 *     request/reply that RPC calls ride on, without the RPC layer;
 * <li>{@code raw-notify}: {@link RoundTripBenchmark}'s echo of one NOTIFY of the same size, no correlation;
 * <li>{@code grpc}: grpc-java's blocking stub over Netty epoll on a domain socket ({@code GrpcBench}).
 * </ul>
 * At the end of each trial it prints the server JVM's bytes allocated per call over the measured iterations
 * (not for {@code raw-notify}, whose server does not report it).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g",
    "-Dcapwire.idleStrategy=spin"})
public class RpcRoundTripBenchmark {
    private static final String SPIN = "spin";

    @Param({"rpc", "rpc-executor", "rpc-bytes", "raw-request", "raw-notify", "grpc"})
    public String peer;

    @Param("64")
    public int payloadBytes;

    private UnaryPeer unary;
    private long calls;
    private ServerAllocation allocation;

    @Setup(Level.Trial)
    public void connect() throws Exception {
        EchoRequest request = UnaryPeer.request(payloadBytes);
        if (peer.equals("raw-notify")) {
            PeerProcess server = PeerProcess.start("capwire", SPIN);
            unary = UnaryPeer.echo(server, new CapwirePeer(server.socket(), SPIN, request.getSerializedSize()));
        } else {
            unary = UnaryPeer.start(peer, SPIN, true, request);
        }
    }

    @Setup(Level.Iteration)
    public void startIteration(IterationParams iteration) throws IOException {
        if (allocation == null && reportsAllocation()) {
            allocation = new ServerAllocation(unary.server());
        }
        if (allocation != null) {
            allocation.startIteration(iteration.getType() == IterationType.MEASUREMENT, calls);
        }
    }

    @TearDown(Level.Iteration)
    public void endIteration() throws IOException {
        if (allocation != null) {
            allocation.endIteration(calls);
        }
    }

    @TearDown(Level.Trial)
    public void disconnect() throws Exception {
        if (allocation != null) {
            allocation.print(peer); // the server's side of the allocation; -prof gc measures this JVM only
        }
        unary.close();
    }

    private boolean reportsAllocation() {
        return !peer.equals("raw-notify");
    }

    @Benchmark
    public Object roundTrip() {
        calls++;
        return unary.call();
    }
}
