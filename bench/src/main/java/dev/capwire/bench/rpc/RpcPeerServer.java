package dev.capwire.bench.rpc;

import dev.capwire.bench.peers.ProfilerCommand;
import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.Service;
import dev.capwire.rpc.IfExists;
import dev.capwire.rpc.Rpc;
import dev.capwire.rpc.ServeHandle;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Server;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameType;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The server half of the RPC benchmarks, in its own JVM: {@code RpcPeerServer <kind> <socket> <idle
 * strategy>} with kind {@code rpc} (a handshake service "bench" whose connections speak RPC and get
 * {@link BenchCap}), {@code raw-request} (Capwire's transport alone: every REQUEST answered with its own
 * payload, on the loop) or {@code grpc} ({@link GrpcBench}). Prints {@code READY}; then answers the line
 * {@code allocated} with {@code ALLOCATED <bytes>} (what this process's live threads have allocated so far,
 * so a benchmark can work out the server's bytes per call) and the {@link ProfilerCommand} lines ({@link
 * ServerProfile}), and exits when its stdin closes.
 */
public final class RpcPeerServer {
    /** The handshake service the RPC clients ask for. */
    public static final String SERVICE = "bench";

    private RpcPeerServer() {
    }

    public static void main(String[] args) throws Exception {
        String kind = args[0];
        Path socket = Path.of(args[1]);
        String idleStrategy = args.length > 2 ? args[2] : "backoff";
        AutoCloseable server;
        switch (kind) {
            case "rpc":
                server = rpc(socket, idleStrategy);
                break;
            case "raw-request":
                server = rawRequest(socket, idleStrategy);
                break;
            case "grpc":
                server = GrpcBench.serve(socket);
                break;
            default:
                throw new IllegalArgumentException("unknown RPC peer kind " + kind);
        }
        System.out.println("READY");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.equals("allocated")) {
                System.out.println("ALLOCATED " + allocatedBytes());
            } else if (ProfilerCommand.handles(line)) {
                System.out.println(ProfilerCommand.run(line));
            } else {
                System.out.println("UNKNOWN " + line);
            }
            System.out.flush();
        }
        server.close();
        Files.deleteIfExists(socket);
    }

    private static AutoCloseable rpc(Path socket, String idleStrategy) throws Exception {
        Transport transport = Transport.create(TransportOptions.builder().idleStrategy(idleStrategy).build());
        Rpc rpc = Rpc.create();
        ServeHandle served = rpc.serve(BenchCap.class, new BenchCapImpl(), IfExists.THROW);
        HandshakeServer server = HandshakeServer.builder(transport).noSecret()
                .service(Service.builder(SERVICE, "1.0.0", rpc.listener()).build()).build();
        server.listen(Endpoint.unix(socket));
        return () -> {
            server.close();
            served.close();
            transport.close();
        };
    }

    /** The raw baseline of the RPC benchmarks: request/reply with no RPC layer, the reply sent as loop work. */
    private static AutoCloseable rawRequest(Path socket, String idleStrategy) throws Exception {
        Transport transport = Transport.create(TransportOptions.builder().idleStrategy(idleStrategy).build());
        Server server = transport.listen(Endpoint.unix(socket), (connection, frame) -> {
            if (frame.type() == FrameType.REQUEST) {
                connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(),
                        frame.payloadLength());
            }
        });
        return () -> {
            server.close();
            transport.close();
        };
    }

    /**
     * Bytes allocated by the threads alive now. A thread that ended took its count with it, so this is a lower
     * bound; the servers here keep their threads (loops, and handler threads kept alive a minute).
     */
    static long allocatedBytes() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long total = 0;
        for (long bytes : threads.getThreadAllocatedBytes(threads.getAllThreadIds())) {
            if (bytes > 0) {
                total += bytes;
            }
        }
        return total;
    }
}
