package dev.capwire.transport;

import dev.capwire.testing.SocketDir;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.Configuration;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code capwire.maxConnectionsPerServer} (issue 11, "Bounded memory and fds"): past the limit a server
 * closes an accepted socket at once, reports that once, and keeps serving the connections it has.
 */
class MaxConnectionsPerServerTest {
    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cwm");

    static void assertEchoes(Connection connection, String text) {
        UnsafeBuffer payload = new UnsafeBuffer(text.getBytes(StandardCharsets.UTF_8));
        Response reply = connection.call(2, 0, payload, 0, payload.capacity(), 10_000);
        assertArrayEquals(text.getBytes(StandardCharsets.UTF_8), reply.payload());
    }

    /** The peer closed {@code socket} within {@code timeoutMs}: end of input, or a reset. */
    static boolean closedByPeer(NativeSocket socket, long timeoutMs) throws NativeIoException {
        if (!socket.fd().awaitReadable(timeoutMs)) {
            return false;
        }
        try {
            return socket.read(ByteBuffer.allocateDirect(64)) == -1;
        } catch (NativeIoException.PeerGoneException e) {
            return true;
        }
    }

    static void await(BooleanSupplier condition, long timeoutMs, String what) throws InterruptedException {
        await(condition, timeoutMs, () -> what);
    }

    static void await(BooleanSupplier condition, long timeoutMs, Supplier<String> what) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("not within " + timeoutMs + " ms: " + what.get());
            }
            Thread.sleep(10);
        }
    }

    @Test
    void pastTheLimitANewConnectionIsClosedAtOnceReportedOnceAndTheOthersKeepWorking() throws Exception {
        List<Throwable> reports = new CopyOnWriteArrayList<>();
        Endpoint endpoint = SOCKETS.endpoint("limit.sock");
        TransportOptions serverOptions = TransportOptions.builder().maxConnectionsPerServer(2)
                .errorHandler(reports::add).build();
        try (Transport serverSide = Transport.create(serverOptions);
                Transport clientSide = Transport.create(TransportOptions.defaults())) {
            Server server = serverSide.listen(endpoint, EchoServerMain::echo);
            Connection first = clientSide.connect(endpoint, (c, f) -> { });
            Connection second = clientSide.connect(endpoint, (c, f) -> { });
            assertEchoes(first, "first");
            assertEchoes(second, "second");
            assertEquals(2, server.connectionCount());

            for (int i = 0; i < 3; i++) {
                try (NativeSocket extra = NativeSocket.connect(endpoint.socketAddress(), 5000)) {
                    assertTrue(closedByPeer(extra, 5000), "connection " + (3 + i) + " past the limit was not closed");
                }
            }
            assertEchoes(first, "first, still served");
            assertEchoes(second, "second, still served");
            assertEquals(2, server.connectionCount());
            assertEquals(2, serverSide.connectionCount(), "no Connection was made for a refused socket");
            // Refusals are handled one after another on the loop, each reported (if at all) before the next:
            // by the time the third was closed, the first's report is in.
            assertEquals(1, reports.size(), "one report for the episode, not one per refusal: " + reports);
            String report = reports.get(0).getMessage();
            assertTrue(report.contains(Configuration.MAX_CONNECTIONS_PER_SERVER_PROP_NAME), report);
            assertTrue(report.contains(endpoint.toString()), report);

            second.close();
            await(() -> server.connectionCount() == 1, 5000, "the server saw the close");
            try (Connection third = clientSide.connect(endpoint, (c, f) -> { })) {
                assertEchoes(third, "admitted after one closed");
                assertEquals(2, server.connectionCount());
                // A new episode is reported again.
                try (NativeSocket extra = NativeSocket.connect(endpoint.socketAddress(), 5000)) {
                    assertTrue(closedByPeer(extra, 5000), "past the limit again, not closed");
                }
                // The loop closes the socket first and reports after: the client may see the close before.
                await(() -> reports.size() == 2, 5000, () -> "a second report: " + reports);
            }
            first.close();
            await(() -> server.connectionCount() == 0, 5000, "the server saw every close");
        }
    }
}
