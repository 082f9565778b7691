package dev.capwire.bench;

import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.rpc.BenchCap;
import dev.capwire.bench.rpc.GrpcBench;
import dev.capwire.bench.rpc.RpcClient;
import dev.capwire.bench.rpc.RpcPeerServer;
import dev.capwire.bench.rpc.proto.Item;
import dev.capwire.bench.rpc.proto.StreamRequest;
import dev.capwire.rpc.StreamSink;
import io.grpc.CallOptions;
import io.grpc.stub.ClientCalls;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A server stream of {@link #ITEMS} small items (a protobuf message with a 64-byte payload) per call, between
 * two JVMs over a Unix socket; the score is items per second. {@code rpc}: {@link BenchCap#stream}, the
 * receiver granting credit (initial 32 items, the default) and the producer waiting when out of it;
 * {@code grpc}: grpc-java server streaming with its flow control (the producer sends while the call is ready,
 * {@link GrpcBench}), read through the blocking stub's iterator. Each call is a whole stream, start to end.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(RpcStreamBenchmark.ITEMS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g"})
public class RpcStreamBenchmark {
    static final int ITEMS = 1000;
    private static final String BACKOFF = "backoff";

    @Param({"rpc", "grpc"})
    public String peer;

    @Param("64")
    public int payloadBytes;

    private PeerProcess server;
    private AutoCloseable client;
    private StreamRequest request;
    private BenchCap cap;
    private GrpcBench.Client grpc;
    private long received;
    private final StreamSink<Item> sink = item -> received++;

    @Setup(Level.Trial)
    public void connect() throws Exception {
        request = StreamRequest.newBuilder().setItems(ITEMS).setPayloadBytes(payloadBytes).build();
        switch (peer) {
            case "rpc" -> {
                server = PeerProcess.start(RpcPeerServer.class, "rpc", BACKOFF);
                RpcClient rpc = RpcClient.rpc(server.socket(), BACKOFF, false);
                cap = rpc.cap();
                client = rpc;
            }
            case "grpc" -> {
                server = PeerProcess.start(RpcPeerServer.class, "grpc", BACKOFF);
                grpc = GrpcBench.connect(server.socket());
                client = grpc;
            }
            default -> throw new IllegalArgumentException("unknown peer " + peer);
        }
    }

    @TearDown(Level.Trial)
    public void disconnect() throws Exception {
        client.close();
        server.close();
    }

    @Benchmark
    public long stream() {
        long before = received;
        if (cap != null) {
            cap.stream(request, sink);
        } else {
            Iterator<Item> items = ClientCalls.blockingServerStreamingCall(grpc.channel, GrpcBench.STREAM,
                    CallOptions.DEFAULT, request);
            while (items.hasNext()) {
                sink.next(items.next());
            }
        }
        if (received - before != ITEMS) {
            throw new IllegalStateException("the stream ended after " + (received - before) + " of " + ITEMS + " items");
        }
        return received;
    }
}
