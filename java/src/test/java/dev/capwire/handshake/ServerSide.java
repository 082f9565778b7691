package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.EchoServerMain;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The test process's side of the handshake tests: one transport, handshake servers on Unix sockets in a
 * fresh directory, every outcome their listeners hear, and the echo service that counts what reaches it.
 */
final class ServerSide implements AutoCloseable {
    final Transport transport;
    /** Every outcome every server here reported, in order. */
    final List<HandshakeOutcome> outcomes = new CopyOnWriteArrayList<>();
    /** Why each negotiated connection of the echo services closed. */
    final List<CloseReason> serviceCloses = new CopyOnWriteArrayList<>();
    /** Frames that reached a service: a frame sent before its connection was negotiated must never be here. */
    final List<Byte> serviceFrames = new CopyOnWriteArrayList<>();
    private final Path dir;
    private final List<HandshakeServer> servers = new ArrayList<>();
    private int consumed;

    ServerSide() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwh");
        transport = Transport.create(TransportOptions.defaults());
    }

    /** A service that echoes requests (see {@link EchoServerMain#echo}) and records what reached it. */
    Service.Builder echo(String name, String version) {
        return Service.builder(name, version, new FrameListener() {
            @Override
            public void onFrame(Connection connection, InboundFrame frame) {
                serviceFrames.add(frame.type());
                EchoServerMain.echo(connection, frame);
            }

            @Override
            public void onClose(Connection connection, CloseReason reason) {
                serviceCloses.add(reason);
            }
        });
    }

    /** A server without a secret hosting echo 1.4.0, reporting to {@link #outcomes}; adjust, then {@link #listen}. */
    HandshakeServer.Builder server() {
        return HandshakeServer.builder(transport).noSecret().listener(outcomes::add);
    }

    HandshakeServer.Builder echoServer() {
        return server().service(echo("echo", "1.4.0").build());
    }

    /** Builds {@code builder} and listens on a socket called {@code name}. */
    Endpoint listen(String name, HandshakeServer.Builder builder) throws Exception {
        return listen(Endpoint.unix(dir.resolve(name)), builder);
    }

    /** Builds {@code builder} and listens on {@code endpoint}; returns the endpoint bound (a TCP port 0 resolved). */
    Endpoint listen(Endpoint endpoint, HandshakeServer.Builder builder) throws Exception {
        HandshakeServer server = builder.build();
        servers.add(server);
        return server.listen(endpoint).endpoint();
    }

    HandshakeServer lastServer() {
        return servers.get(servers.size() - 1);
    }

    /** The next outcome not yet returned, waiting for it to be reported. */
    HandshakeOutcome nextOutcome() throws Exception {
        await(() -> outcomes.size() > consumed, "a handshake outcome (have " + outcomes + ")");
        return outcomes.get(consumed++);
    }

    /** Skips the outcomes reported so far. */
    void skipOutcomes() {
        consumed = outcomes.size();
    }

    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "waited 20 s for " + what);
            Thread.sleep(5);
        }
    }

    @Override
    public void close() throws IOException {
        servers.forEach(HandshakeServer::close);
        transport.close();
        try (var files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Files.deleteIfExists(file);
            }
        }
        Files.deleteIfExists(dir);
    }
}
