package dev.capwire.bench.rpc;

import com.google.protobuf.ByteString;
import dev.capwire.bench.peers.EchoPeer;
import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.rpc.proto.EchoRequest;
import io.grpc.CallOptions;
import io.grpc.stub.ClientCalls;
import java.util.function.Supplier;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One peer of a benchmark of sequential blocking calls: its server JVM, its client and the call, for the RPC layer
 * ({@code rpc}: {@link BenchCap#echoOnLoop}; {@code rpc-executor}: {@link BenchCap#echo}, the handler on the RPC
 * executor; {@code rpc-bytes}: {@link BenchCap#bytesOnLoop}, no protobuf), the request/reply under it
 * ({@code raw-request}: {@code Connection.call} of the same bytes, answered on the server's loop) and grpc-java's
 * blocking stub ({@code grpc}). Both ends' loops run {@code idleStrategy}; {@code invoker} puts the client's
 * transport in invoker mode, so the calling thread runs its loop while it waits.
 */
public final class UnaryPeer implements AutoCloseable {
    private final PeerProcess server;
    private final AutoCloseable client;
    private final Supplier<Object> call;

    private UnaryPeer(PeerProcess server, AutoCloseable client, Supplier<Object> call) {
        this.server = server;
        this.client = client;
        this.call = call;
    }

    /** The benchmarks' request: a small protobuf message with {@code payloadBytes} of payload. */
    public static EchoRequest request(int payloadBytes) {
        return EchoRequest.newBuilder().setId(1).setPayload(ByteString.copyFrom(new byte[payloadBytes])).build();
    }

    /** A baseline that is no call at all: {@code echo}'s round trip of the same bytes, to {@code server}. */
    public static UnaryPeer echo(PeerProcess server, EchoPeer echo) {
        return new UnaryPeer(server, echo, () -> {
            echo.roundTrip();
            return echo;
        });
    }

    public static UnaryPeer start(String peer, String idleStrategy, boolean invoker, EchoRequest request)
            throws Exception {
        PeerProcess server = PeerProcess.start(RpcPeerServer.class, serverKind(peer), idleStrategy);
        try {
            return connect(peer, server, idleStrategy, invoker, request);
        } catch (Exception | Error e) {
            server.close();
            throw e;
        }
    }

    private static String serverKind(String peer) {
        return switch (peer) {
            case "rpc", "rpc-executor", "rpc-bytes" -> "rpc";
            case "raw-request", "grpc" -> peer;
            default -> throw new IllegalArgumentException("unknown peer " + peer);
        };
    }

    private static UnaryPeer connect(String peer, PeerProcess server, String idleStrategy, boolean invoker,
            EchoRequest request) throws Exception {
        byte[] bytes = request.toByteArray();
        switch (peer) {
            case "rpc", "rpc-executor", "rpc-bytes" -> {
                RpcClient rpc = RpcClient.rpc(server.socket(), idleStrategy, invoker);
                BenchCap cap = rpc.cap();
                return new UnaryPeer(server, rpc, switch (peer) {
                    case "rpc" -> () -> cap.echoOnLoop(request);
                    case "rpc-executor" -> () -> cap.echo(request);
                    default -> () -> cap.bytesOnLoop(bytes);
                });
            }
            case "raw-request" -> {
                RpcClient raw = RpcClient.raw(server.socket(), idleStrategy, invoker);
                UnsafeBuffer payload = new UnsafeBuffer(bytes);
                return new UnaryPeer(server, raw,
                        () -> raw.connection().call(2, 1, payload, 0, payload.capacity(), 10_000));
            }
            case "grpc" -> {
                GrpcBench.Client grpc = GrpcBench.connect(server.socket());
                return new UnaryPeer(server, grpc,
                        () -> ClientCalls.blockingUnaryCall(grpc.channel, GrpcBench.ECHO, CallOptions.DEFAULT, request));
            }
            default -> throw new IllegalArgumentException("unknown peer " + peer);
        }
    }

    public PeerProcess server() {
        return server;
    }

    /** One call, answered. */
    public Object call() {
        return call.get();
    }

    @Override
    public void close() throws Exception {
        try {
            client.close();
        } finally {
            server.close();
        }
    }
}
