package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.handshake.ClientProcess.Outcome;
import dev.capwire.testing.ChildJvm;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.EchoServerMain;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Response;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Keepalive across processes: a peer stopped with SIGSTOP keeps its socket open, so only the missed pings
 * tell; it is declared dead on either side, and requests pending on it fail UNAVAILABLE. A peer that is
 * merely idle answers the pings and stays connected.
 */
@ExtendWith(NoLeaks.class)
class KeepaliveTest {
    private static final UnsafeBuffer PAYLOAD = new UnsafeBuffer(new byte[] {1, 2, 3, 4});
    private ServerSide servers;

    @BeforeEach
    void start() throws Exception {
        servers = new ServerSide();
    }

    @AfterEach
    void stop() throws Exception {
        servers.close();
    }

    /** A {@link HandshakeServerMain} that grants keepalive intervals down to 50 ms, in its own directory. */
    private record ServerProcess(ChildJvm jvm, Endpoint endpoint, Path dir) implements AutoCloseable {
        static ServerProcess start() throws Exception {
            Path dir = Files.createTempDirectory(Path.of("/tmp"), "cwk");
            ChildJvm jvm = ChildJvm.start(HandshakeServerMain.class, Endpoint.unix(dir.resolve("s")).toString(),
                    "keepaliveMs=1000", "keepaliveMinMs=50", "maxMissed=3");
            return new ServerProcess(jvm, Endpoint.parse(jvm.expect("READY", 30)), dir);
        }

        /** Continues the child first if a test stopped it: a stopped process cannot read its stdin closing. */
        @Override
        public void close() throws IOException {
            try {
                signal(jvm.pid(), "CONT");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            jvm.close();
            Files.deleteIfExists(dir.resolve("s"));
            Files.delete(dir);
        }
    }

    private NegotiatedConnection connect(Endpoint endpoint, long keepaliveMs, int maxMissed) throws Exception {
        NegotiatedConnection connection = HandshakeClient.connect(servers.transport, endpoint, ClientOptions
                .builder("echo").noSecret().keepaliveIntervalMs(keepaliveMs).keepaliveMaxMissed(maxMissed).build(),
                (c, f) -> { });
        assertEquals(keepaliveMs, connection.keepaliveIntervalMs(), "the server granted the interval asked for");
        return connection;
    }

    private static void signal(long pid, String signal) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0, "kill -" + signal + " " + pid);
    }

    @Test
    void aStoppedServerIsDeclaredDeadAndItsPendingRequestsFailUnavailable() throws Exception {
        try (ServerProcess server = ServerProcess.start()) {
            NegotiatedConnection negotiated = connect(server.endpoint(), 150, 3);
            Connection connection = negotiated.connection();
            assertEquals(4, connection.call(2, 1, PAYLOAD, 0, 4, 10_000).payload().length);
            CompletableFuture<Response> pending = connection.request(2, EchoServerMain.METHOD_HOLD, PAYLOAD, 0, 4,
                    120_000);
            signal(server.jvm().pid(), "STOP");

            CloseReason reason = connection.closeFuture().get(20, TimeUnit.SECONDS);
            assertEquals(CloseReason.Kind.PEER_UNRESPONSIVE, reason.kind(), reason.toString());
            assertTrue(reason.detail().contains("3 keepalive intervals of 150 ms"), reason.toString());
            ExecutionException failed = assertThrows(ExecutionException.class, () -> pending.get(5, TimeUnit.SECONDS));
            assertEquals(StatusCode.UNAVAILABLE, ((StatusException) failed.getCause()).code(), failed.toString());
            assertEquals(0, connection.inFlight());
            assertEquals(StatusCode.UNAVAILABLE, assertThrows(StatusException.class,
                    () -> connection.call(2, 1, PAYLOAD, 0, 4, 5000)).code(), "a dead connection takes no calls");
        }
    }

    @Test
    void aStoppedClientIsDeclaredDeadByTheServer() throws Exception {
        Endpoint endpoint = servers.listen("stopped-client", servers.echoServer().keepaliveIntervalMs(150)
                .keepaliveMinIntervalMs(50).keepaliveMaxMissed(3));
        try (ClientProcess client = ClientProcess.start()) {
            Outcome outcome = client.connect(endpoint);
            assertEquals(150, outcome.number("keepaliveMs"), "the server's interval when the client asks none");
            client.jvm().send("HOLD");
            client.jvm().expect("HELD", 30);
            signal(client.pid(), "STOP");
            try {
                ServerSide.await(() -> !servers.serviceCloses.isEmpty(), "the server to give up on the client");
                CloseReason reason = servers.serviceCloses.get(0);
                assertEquals(CloseReason.Kind.PEER_UNRESPONSIVE, reason.kind(), reason.toString());
                ServerSide.await(() -> servers.lastServer().connectionCount() == 0, "the connection to be released");
            } finally {
                signal(client.pid(), "CONT");
            }
            // Woken, the client finds its connection gone and its request failed, not left hanging.
            assertEquals("UNAVAILABLE", client.jvm().expect("HOLD-ENDED", 30));
            client.exit();
        }
    }

    @Test
    void anIdlePeerThatAnswersPingsIsNotDeclaredDead() throws Exception {
        Endpoint local = servers.listen("idle-client", servers.echoServer().keepaliveIntervalMs(150)
                .keepaliveMinIntervalMs(50).keepaliveMaxMissed(4));
        try (ServerProcess server = ServerProcess.start(); ClientProcess client = ClientProcess.start()) {
            // Both directions at once: this process's client to the child server, the child client to ours.
            NegotiatedConnection toChild = connect(server.endpoint(), 150, 4);
            assertTrue(client.connect(local).negotiated());
            // Twenty intervals with no calls: only the pings and pongs cross, and they must be enough.
            Thread.sleep(3000);
            assertFalse(toChild.connection().closeFuture().isDone(), () -> "closed: "
                    + toChild.connection().closeFuture().join());
            assertEquals(List.of(), servers.serviceCloses, "the server kept the idle child client");
            assertEquals(4, toChild.connection().call(2, 1, PAYLOAD, 0, 4, 10_000).payload().length);
            assertEquals("OK", client.call());
            toChild.close();
            client.exit();
        }
    }
}
