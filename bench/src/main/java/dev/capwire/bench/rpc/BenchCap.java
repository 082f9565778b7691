package dev.capwire.bench.rpc;

import dev.capwire.bench.rpc.proto.EchoReply;
import dev.capwire.bench.rpc.proto.EchoRequest;
import dev.capwire.bench.rpc.proto.Item;
import dev.capwire.bench.rpc.proto.StreamRequest;
import dev.capwire.rpc.Capability;
import dev.capwire.rpc.Method;
import dev.capwire.rpc.ResultSink;
import dev.capwire.rpc.StreamSink;
import java.util.concurrent.CompletableFuture;
import org.agrona.DirectBuffer;

/**
 * The cap the RPC benchmarks call: the same echo as a handler on the transport's executor (the default for
 * a cap method) and as a {@code nonBlocking} handler run on the event loop, each with a blocking and an
 * asynchronous stub, the same for raw bytes, and a server stream. {@link BenchCapImpl} serves it in the child
 * JVM ({@link RpcPeerServer}).
 */
@Capability(name = "bench", version = "1.0.0")
public interface BenchCap {
    /** The blocking-handler echo: dispatched to the RPC executor. */
    @Method(1)
    EchoReply echo(EchoRequest request);

    @Method(value = 2, nonBlocking = true)
    EchoReply echoOnLoop(EchoRequest request);

    /** {@link #echo} through the asynchronous stub (the caller's thread does not wait). */
    @Method(3)
    CompletableFuture<EchoReply> echoAsync(EchoRequest request);

    @Method(value = 4, nonBlocking = true)
    CompletableFuture<EchoReply> echoOnLoopAsync(EchoRequest request);

    /** Raw bytes, no protobuf: the allocation benchmark's method, so only RPC's own costs are counted. */
    @Method(value = 5, nonBlocking = true)
    byte[] bytesOnLoop(byte[] payload);

    @Method(6)
    byte[] bytes(byte[] payload);

    /** {@link #bytesOnLoop} through the asynchronous stub: the in-flight benchmark's allocation per call. */
    @Method(value = 8, nonBlocking = true)
    CompletableFuture<byte[]> bytesOnLoopAsync(byte[] payload);

    /**
     * The callback form ({@link ResultSink}), raw bytes as views: the argument is the receive buffer's view, the
     * answer is given before the handler returns, and the caller's one sink sees the result as a view. The
     * allocation benchmark's method for an RPC call that makes no object per call.
     */
    @Method(value = 9, nonBlocking = true)
    void bytesView(DirectBuffer payload, ResultSink<DirectBuffer> result);

    /**
     * {@link #echoOnLoopAsync} in the callback form: protobuf messages in and out, the answer given through the
     * sink before the handler returns, the result handed to the caller's one sink. What grpc-java's asynchronous
     * stub is (a request and a {@code StreamObserver}), so the in-flight benchmark can compare like with like.
     */
    @Method(value = 10, nonBlocking = true)
    void echoSink(EchoRequest request, ResultSink<EchoReply> reply);

    /** {@code request.items} copies of one item, each taking a unit of the caller's credit. */
    @Method(7)
    void stream(StreamRequest request, StreamSink<Item> out);
}
