package dev.capwire.bench.rpc;

import com.google.protobuf.ByteString;
import dev.capwire.bench.rpc.proto.EchoReply;
import dev.capwire.bench.rpc.proto.EchoRequest;
import dev.capwire.bench.rpc.proto.Item;
import dev.capwire.bench.rpc.proto.StreamRequest;
import dev.capwire.rpc.ResultSink;
import dev.capwire.rpc.StreamSink;
import java.util.concurrent.CompletableFuture;
import org.agrona.DirectBuffer;

/**
 * The server side of {@link BenchCap}, doing what the gRPC peer's handlers do ({@link GrpcBench}): the echo
 * builds a reply from the request (one message, as any real handler would), the bytes method hands the
 * array back as it is, and the stream sends one prebuilt item again and again.
 */
public final class BenchCapImpl implements BenchCap {
    @Override
    public EchoReply echo(EchoRequest request) {
        return reply(request);
    }

    @Override
    public EchoReply echoOnLoop(EchoRequest request) {
        return reply(request);
    }

    @Override
    public CompletableFuture<EchoReply> echoAsync(EchoRequest request) {
        return CompletableFuture.completedFuture(reply(request));
    }

    @Override
    public CompletableFuture<EchoReply> echoOnLoopAsync(EchoRequest request) {
        return CompletableFuture.completedFuture(reply(request));
    }

    @Override
    public byte[] bytesOnLoop(byte[] payload) {
        return payload;
    }

    @Override
    public byte[] bytes(byte[] payload) {
        return payload;
    }

    @Override
    public CompletableFuture<byte[]> bytesOnLoopAsync(byte[] payload) {
        return CompletableFuture.completedFuture(payload);
    }

    @Override
    public void bytesView(DirectBuffer payload, ResultSink<DirectBuffer> result) {
        result.result(payload);
    }

    @Override
    public void echoSink(EchoRequest request, ResultSink<EchoReply> reply) {
        reply.result(reply(request));
    }

    @Override
    public void stream(StreamRequest request, StreamSink<Item> out) {
        Item item = item(request.getPayloadBytes());
        for (int i = 0; i < request.getItems(); i++) {
            out.next(item);
        }
    }

    static EchoReply reply(EchoRequest request) {
        return EchoReply.newBuilder().setId(request.getId()).setPayload(request.getPayload()).build();
    }

    static Item item(int payloadBytes) {
        return Item.newBuilder().setSeq(1).setPayload(ByteString.copyFrom(new byte[payloadBytes])).build();
    }
}
