package dev.capwire.bench.rpc;

import dev.capwire.bench.rpc.proto.EchoReply;
import dev.capwire.bench.rpc.proto.EchoRequest;
import dev.capwire.bench.rpc.proto.Item;
import dev.capwire.bench.rpc.proto.StreamRequest;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The gRPC peer: grpc-java's Netty transport over an epoll Unix domain socket, with the service of
 * bench_rpc.proto. The method descriptors are what protoc-gen-grpc-java would generate (same full names,
 * protobuf marshallers); they are built here because that plugin's binary cannot be fetched on this
 * machine, and the generated stubs are thin wrappers over the same {@code ClientCalls}/{@code ServerCalls}, so
 * nothing on the call path differs. Both sides use one event loop and run handlers and callbacks directly on
 * it ({@code directExecutor}), gRPC's fastest setting and the counterpart of a {@code nonBlocking} cap method.
 */
public final class GrpcBench {
    static final String SERVICE = "capwire.bench.BenchService";

    public static final MethodDescriptor<EchoRequest, EchoReply> ECHO = MethodDescriptor
            .<EchoRequest, EchoReply>newBuilder().setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Echo"))
            .setRequestMarshaller(ProtoUtils.marshaller(EchoRequest.getDefaultInstance()))
            .setResponseMarshaller(ProtoUtils.marshaller(EchoReply.getDefaultInstance())).build();

    public static final MethodDescriptor<StreamRequest, Item> STREAM = MethodDescriptor
            .<StreamRequest, Item>newBuilder().setType(MethodDescriptor.MethodType.SERVER_STREAMING)
            .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Stream"))
            .setRequestMarshaller(ProtoUtils.marshaller(StreamRequest.getDefaultInstance()))
            .setResponseMarshaller(ProtoUtils.marshaller(Item.getDefaultInstance())).build();

    private GrpcBench() {
    }

    /** Serves the echo and the stream on {@code socket}; close the result to stop. */
    public static AutoCloseable serve(Path socket) throws IOException {
        EpollEventLoopGroup boss = new EpollEventLoopGroup(1);
        EpollEventLoopGroup worker = new EpollEventLoopGroup(1);
        ServerServiceDefinition service = ServerServiceDefinition.builder(SERVICE)
                .addMethod(ECHO, ServerCalls.asyncUnaryCall((request, reply) -> {
                    reply.onNext(BenchCapImpl.reply(request));
                    reply.onCompleted();
                }))
                .addMethod(STREAM, ServerCalls.asyncServerStreamingCall(GrpcBench::stream)).build();
        Server server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toFile()))
                .channelType(EpollServerDomainSocketChannel.class).bossEventLoopGroup(boss)
                .workerEventLoopGroup(worker).directExecutor().addService(service).build().start();
        return () -> {
            server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            boss.shutdownGracefully().sync();
            worker.shutdownGracefully().sync();
        };
    }

    /**
     * gRPC's own flow control for a server stream: send while the transport says it is ready (HTTP/2 window
     * open), then wait for its on-ready call, the counterpart of waiting for credit. Without it the items
     * would be buffered without bound, which Capwire's stream never does.
     */
    private static void stream(StreamRequest request, StreamObserver<Item> responses) {
        ServerCallStreamObserver<Item> out = (ServerCallStreamObserver<Item>) responses;
        Item item = BenchCapImpl.item(request.getPayloadBytes());
        int[] sent = {0};
        boolean[] ended = {false};
        out.setOnReadyHandler(() -> {
            while (!ended[0] && out.isReady() && sent[0] < request.getItems()) {
                out.onNext(item);
                sent[0]++;
            }
            if (!ended[0] && sent[0] == request.getItems()) {
                ended[0] = true; // runs on the transport's serialized executor: no other thread touches these
                out.onCompleted();
            }
        });
    }

    /** A client channel on {@code socket}, with its own single event loop; close it with {@link #close}. */
    public static Client connect(Path socket) {
        EpollEventLoopGroup group = new EpollEventLoopGroup(1);
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toFile()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().directExecutor()
                .build();
        return new Client(channel, group);
    }

    /** A channel and the event loop it owns. */
    public static final class Client implements AutoCloseable {
        public final ManagedChannel channel;
        private final EpollEventLoopGroup group;

        Client(ManagedChannel channel, EpollEventLoopGroup group) {
            this.channel = channel;
            this.group = group;
        }

        @Override
        public void close() throws InterruptedException {
            channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            group.shutdownGracefully().sync();
        }
    }
}
