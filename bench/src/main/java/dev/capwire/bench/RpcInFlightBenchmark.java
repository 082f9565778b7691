package dev.capwire.bench;

import com.google.protobuf.ByteString;
import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.rpc.BenchCap;
import dev.capwire.bench.rpc.GrpcBench;
import dev.capwire.bench.rpc.RpcClient;
import dev.capwire.bench.rpc.RpcPeerServer;
import dev.capwire.bench.rpc.ServerAllocation;
import dev.capwire.bench.rpc.ServerProfile;
import dev.capwire.bench.rpc.proto.EchoReply;
import dev.capwire.bench.rpc.proto.EchoRequest;
import dev.capwire.transport.Connection;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.ReplyHandler;
import dev.capwire.rpc.ResultSink;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import io.grpc.CallOptions;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import org.agrona.DirectBuffer;
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
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;

/**
 * Unary calls with up to {@code window} (128) in flight between two JVMs over a Unix socket, through
 * asynchronous stubs: one operation is one call sent (and, within the window, answered), so the score is
 * calls per second. Each side's transport runs its own loop with the default (backing-off) idle strategy.
 * The peers:
 * <ul>
 * <li>{@code rpc}: {@link BenchCap#echoOnLoopAsync}, small protobuf message, {@code nonBlocking} handler;
 * <li>{@code rpc-executor}: {@link BenchCap#echoAsync}, the same with the handler on the RPC executor;
 * <li>{@code rpc-bytes}: {@link BenchCap#bytesOnLoopAsync}, the message's bytes as {@code byte[]}, no protobuf:
 *     with {@code -prof gc}, the RPC layer's own allocation per call beside {@code raw-request}'s;
 * <li>{@code rpc-view}: {@link BenchCap#bytesView}, the same bytes in the callback form ({@code ResultSink}, one
 *     sink for every call, argument and result as views): the RPC layer's floor of allocation per call;
 * <li>{@code rpc-sink}: {@link BenchCap#echoSink}, {@code rpc}'s protobuf messages in the callback form (one
 *     {@code ResultSink} for every call): what grpc-java's asynchronous stub is, a request and an observer;
 * <li>{@code raw-request}: {@code Connection.request} of the same bytes with one {@code ReplyHandler} for all
 *     calls (nothing allocated per call), answered on the server's loop;
 * <li>{@code raw-future}: the same through {@code Connection.request}'s future form (a future and a copy of
 *     the reply per call);
 * <li>{@code grpc}: grpc-java's async stub ({@code ClientCalls.asyncUnaryCall}), handler on its event loop;
 * <li>{@code rpc-invoker}, {@code raw-request-invoker}: {@code rpc} and {@code raw-request} with the client's
 *     transport in invoker mode ({@code eventLoops=0}): no loop thread, the benchmark thread runs the loop
 *     ({@code Transport.poll()}) whenever it waits for room in the window (and, with {@code pollEvery}, after
 *     every so many calls it sends), so its calls go out and their answers come in on that thread.
 * </ul>
 * For the RPC peers each trial also prints the server JVM's bytes allocated per call over its measured
 * iterations ({@link ServerAllocation}); with {@code -jvmArgsAppend -Dbench.serverProfile=FILE}, a CPU profile of the
 * server JVM over the measured iterations ({@link ServerProfile}).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g"})
public class RpcInFlightBenchmark {
    private static final String BACKOFF = "backoff";
    private static final long TIMEOUT_MS = 30_000;

    @Param({"rpc", "rpc-executor", "rpc-bytes", "rpc-view", "rpc-sink", "raw-request", "raw-future", "grpc", "rpc-invoker",
        "raw-request-invoker"})
    public String peer;

    @Param("128")
    public int window;

    @Param("64")
    public int payloadBytes;

    /**
     * Invoker-mode peers only: when not 0, the benchmark thread also runs the loop after every {@code pollEvery}
     * calls it sends, as an application with a duty cycle would, so the calls sent so far go out while it makes
     * more (at 0 they go out only when the window is full, and the two sides take turns).
     */
    @Param("0")
    public int pollEvery;

    private PeerProcess server;
    private ServerAllocation allocation; // RPC peers only
    private ServerProfile serverProfile; // with -Dbench.serverProfile=FILE only
    private AutoCloseable client;
    /** Invoker-mode peers: the transport this thread runs; null when a loop thread runs it. */
    private Transport invoker;
    private Runnable send;
    private long sent;
    private final AtomicLong answered = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private volatile Throwable firstFailure;

    @Setup(Level.Trial)
    public void connect() throws Exception {
        EchoRequest request = EchoRequest.newBuilder().setId(1).setPayload(ByteString.copyFrom(new byte[payloadBytes]))
                .build();
        // One callback for every call, so the benchmark itself allocates nothing per call.
        BiConsumer<Object, Throwable> done = (result, failure) -> {
            if (failure != null) {
                fail(failure);
            }
            answered.incrementAndGet();
        };
        switch (peer) {
            case "rpc", "rpc-executor", "rpc-bytes", "rpc-view", "rpc-sink", "rpc-invoker" -> {
                server = PeerProcess.start(RpcPeerServer.class, "rpc", BACKOFF);
                allocation = new ServerAllocation(server);
                RpcClient rpc = RpcClient.rpc(server.socket(), BACKOFF, peer.endsWith("-invoker"));
                invoker = rpc.invokerTransport();
                BenchCap cap = rpc.cap();
                client = rpc;
                byte[] bytes = request.toByteArray();
                UnsafeBuffer view = new UnsafeBuffer(bytes);
                ResultSink<DirectBuffer> sink = countingSink(done);
                ResultSink<EchoReply> replies = countingSink(done);
                send = switch (peer) {
                    case "rpc", "rpc-invoker" -> () -> cap.echoOnLoopAsync(request).whenComplete(done);
                    case "rpc-executor" -> () -> cap.echoAsync(request).whenComplete(done);
                    case "rpc-view" -> () -> cap.bytesView(view, sink);
                    case "rpc-sink" -> () -> cap.echoSink(request, replies);
                    default -> () -> cap.bytesOnLoopAsync(bytes).whenComplete(done);
                };
            }
            case "raw-request", "raw-future", "raw-request-invoker" -> {
                server = PeerProcess.start(RpcPeerServer.class, "raw-request", BACKOFF);
                RpcClient raw = RpcClient.raw(server.socket(), BACKOFF, peer.endsWith("-invoker"));
                invoker = raw.invokerTransport();
                UnsafeBuffer payload = new UnsafeBuffer(request.toByteArray());
                client = raw;
                Connection connection = raw.connection();
                ReplyHandler handler = new ReplyHandler() {
                    @Override
                    public void onReply(long correlationId, InboundFrame reply) {
                        answered.incrementAndGet();
                    }

                    @Override
                    public void onFailure(long correlationId, StatusException failure) {
                        done.accept(null, failure);
                    }
                };
                send = peer.equals("raw-future")
                        ? () -> connection.request(2, 1, payload, 0, payload.capacity()).whenComplete(done)
                        : () -> connection.request(2, 1, payload, 0, payload.capacity(), TIMEOUT_MS, handler);
            }
            case "grpc" -> {
                server = PeerProcess.start(RpcPeerServer.class, "grpc", BACKOFF);
                GrpcBench.Client grpc = GrpcBench.connect(server.socket());
                client = grpc;
                StreamObserver<EchoReply> observer = new StreamObserver<>() {
                    @Override
                    public void onNext(EchoReply reply) {
                    }

                    @Override
                    public void onError(Throwable failure) {
                        fail(failure);
                        answered.incrementAndGet();
                    }

                    @Override
                    public void onCompleted() {
                        answered.incrementAndGet();
                    }
                };
                send = () -> ClientCalls.asyncUnaryCall(grpc.channel.newCall(GrpcBench.ECHO, CallOptions.DEFAULT),
                        request, observer);
            }
            default -> throw new IllegalArgumentException("unknown peer " + peer);
        }
        serverProfile = ServerProfile.ifAsked(server);
    }

    /** One sink for every call of the callback form, so the benchmark itself allocates nothing per call. */
    private <T> ResultSink<T> countingSink(BiConsumer<Object, Throwable> done) {
        return new ResultSink<>() {
            @Override
            public void result(T value) {
                answered.incrementAndGet();
            }

            @Override
            public void failed(StatusException why) {
                done.accept(null, why);
            }
        };
    }

    private void fail(Throwable failure) {
        if (failed.getAndIncrement() == 0) {
            firstFailure = failure;
        }
    }

    @Setup(Level.Iteration)
    public void startIteration(IterationParams iteration) throws IOException {
        boolean measurement = iteration.getType() == IterationType.MEASUREMENT;
        if (allocation != null) {
            allocation.startIteration(measurement, sent);
        }
        if (serverProfile != null) {
            serverProfile.startIteration(measurement);
        }
    }

    /** Lets every call of the iteration be answered, and fails the run if any call failed. */
    @TearDown(Level.Iteration)
    public void drain() throws InterruptedException, IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (answered.get() < sent) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException((sent - answered.get()) + " calls unanswered after 30 s");
            }
            if (invoker == null || invoker.poll() == 0) {
                Thread.sleep(1);
            }
        }
        if (failed.get() > 0) {
            throw new IllegalStateException(failed.get() + " calls failed; the first: " + firstFailure, firstFailure);
        }
        if (allocation != null) {
            allocation.endIteration(sent);
        }
    }

    @TearDown(Level.Trial)
    public void disconnect() throws Exception {
        if (allocation != null) {
            allocation.print(peer);
        }
        if (serverProfile != null) {
            serverProfile.finish();
        }
        client.close();
        server.close();
    }

    @Benchmark
    public void call() {
        while (sent - answered.get() >= window) {
            if (invoker != null) {
                invoker.poll(); // this thread is the loop: the calls go out, and their answers come in, here
            }
            Thread.yield(); // two cores, up to four busy threads: let the loops and handlers run
        }
        send.run();
        sent++;
        if (invoker != null && pollEvery > 0 && sent % pollEvery == 0) {
            invoker.poll();
        }
    }
}
