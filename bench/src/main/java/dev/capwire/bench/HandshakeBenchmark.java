package dev.capwire.bench;

import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.peers.PeerServer;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
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
 * Connections set up and torn down per second between two JVMs over a Unix socket, one after another. One
 * operation is:
 * <ul>
 * <li>{@code capwire}: connect + Hello + Negotiated + graceful close (until the GOAWAY is sent; on this Unix
 *     socket, with nothing left unread, the socket is closed right after it; each iteration ends by checking
 *     that every socket was released on both ends);
 * <li>{@code capwire-secret}: the same with the shared-secret challenge (a second round trip and four HMACs);
 * <li>{@code capwire-invoker}: the same as {@code capwire} with the client's transport in invoker mode (no loop
 *     thread: the benchmark thread runs the loop itself);
 * <li>{@code jdk}, the baseline: a bare {@code SocketChannel.open(address)} + close against a server that
 *     accepts and closes;
 * <li>{@code jdk-roundtrip}: the same plus one byte there and back, so the JDK side also waits for its server
 *     once (a handshake cannot do with less).
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g"})
public class HandshakeBenchmark {
    /** Room for the fds a server JVM may open lazily (a jar, a random device) after the first connection. */
    private static final int FD_SLACK = 8;
    private static final FrameListener IGNORE = (connection, frame) -> { };

    @Param({"capwire", "capwire-secret", "capwire-invoker", "jdk", "jdk-roundtrip"})
    public String peer;

    private PeerProcess server;
    private boolean jdk;
    private boolean jdkRoundTrip;
    private final ByteBuffer oneByte = ByteBuffer.allocateDirect(1);
    private UnixDomainSocketAddress address;
    private Endpoint endpoint;
    private ClientOptions options;
    /** One for the whole trial: a transport per operation would measure event-loop thread start-up. */
    private Transport transport;
    private int serverFds;

    @Setup(Level.Trial)
    public void start() throws Exception {
        jdk = peer.startsWith("jdk");
        jdkRoundTrip = "jdk-roundtrip".equals(peer);
        server = PeerProcess.start(jdkRoundTrip ? "jdk-accept-echo" : jdk ? "jdk-accept"
                : "capwire-secret".equals(peer) ? "handshake-secret" : "handshake", "backoff");
        address = UnixDomainSocketAddress.of(server.socket());
        if (!jdk) {
            endpoint = Endpoint.unix(server.socket());
            ClientOptions.Builder builder = ClientOptions.builder(PeerServer.HANDSHAKE_SERVICE);
            options = ("capwire-secret".equals(peer) ? builder.secret(PeerServer.BENCHMARK_SECRET) : builder.noSecret())
                    .build();
            // Invoker mode: this thread (JMH runs a thread-scoped trial setup on the benchmark's own thread)
            // drives the client's loop itself, so nothing is handed to a loop thread and back.
            transport = Transport.create("capwire-invoker".equals(peer)
                    ? TransportOptions.builder().eventLoops(0).build() : TransportOptions.defaults());
        }
        // The first connection opens what the server keeps for its lifetime; count its fds after that.
        connectAndClose();
        serverFds = settledServerFds(Integer.MAX_VALUE);
    }

    /** Proves every close finished on both ends: no connection left on the client, none held by the server. */
    @TearDown(Level.Iteration)
    public void nothingPiledUp() throws Exception {
        // A close that had to linger (bytes left unread) releases its socket when the server's close arrives.
        for (int i = 0; i < 100 && transport != null && transport.connectionCount() != 0; i++) {
            Thread.sleep(10);
        }
        if (transport != null && transport.connectionCount() != 0) {
            throw new IllegalStateException(transport.connectionCount() + " client connections left open");
        }
        int fds = settledServerFds(serverFds + FD_SLACK);
        if (fds > serverFds + FD_SLACK) {
            throw new IllegalStateException("the " + peer + " server holds " + fds + " fds, " + serverFds
                    + " after the first connection: closes are piling up");
        }
    }

    @TearDown(Level.Trial)
    public void stop() throws Exception {
        if (transport != null) {
            transport.close();
        }
        server.close();
    }

    @Benchmark
    public long connectAndClose() throws IOException {
        if (jdk) {
            try (SocketChannel channel = SocketChannel.open(address)) {
                if (jdkRoundTrip) {
                    channel.write(oneByte.clear());
                    return channel.read(oneByte.clear()); // 1: the server's answer came
                }
                return channel.isConnected() ? 1 : 0;
            }
        }
        // connect returns only once the server's Negotiated reply has arrived (and been checked), else throws.
        try (NegotiatedConnection connection = HandshakeClient.connect(transport, endpoint, options, IGNORE)) {
            return connection.connectionId();
        }
    }

    /** The server's fd count once it stops falling (its last accept may still be closing), at most 1 s. */
    private int settledServerFds(int enough) throws Exception {
        int fds = server.openFds();
        for (int i = 0; i < 100 && fds > enough; i++) {
            Thread.sleep(10);
            fds = server.openFds();
        }
        return fds;
    }
}
