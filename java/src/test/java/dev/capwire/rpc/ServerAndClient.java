package dev.capwire.rpc;

import static dev.capwire.rpc.RpcTestClient.waitFor;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * For one test: a client of its own ({@link RpcTestClient}), the child server {@link RpcServerMain} and one
 * connection between them; closing it closes all three and waits for the client's RPC state to go.
 */
final class ServerAndClient implements AutoCloseable {
    final RpcTestClient client;
    final ChildJvm server;
    final NegotiatedConnection connection;
    final RpcConnection peer;

    ServerAndClient(SocketDir dir, String... serverJvmArgs) throws Exception {
        this(new RpcTestClient(), dir, serverJvmArgs);
    }

    ServerAndClient(RpcTestClient client, SocketDir dir, String... serverJvmArgs) throws Exception {
        this.client = client;
        server = ChildJvm.start(RpcServerMain.class, List.of(serverJvmArgs), "unix:" + dir.path("sc-"
                + System.nanoTime()));
        connection = client.connect(server);
        peer = client.rpc.connection(connection.connection());
    }

    /** What the server answers to {@code command}, after the reply's own prefix (see {@link RpcServerMain}). */
    String ask(String command, String replyPrefix) throws Exception {
        server.send(command);
        return server.expect(replyPrefix, 10);
    }

    /** Asks {@code command} until the server's count is {@code expected}, for up to 10 s; fails with the last one. */
    void awaitCount(String command, String replyPrefix, int expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        String seen = ask(command, replyPrefix);
        while (!seen.equals(String.valueOf(expected)) && System.nanoTime() < deadline) {
            Thread.sleep(10);
            seen = ask(command, replyPrefix);
        }
        assertEquals(String.valueOf(expected), seen, "the server's " + command);
    }

    @Override
    public void close() throws Exception {
        try (RpcTestClient closing = client; ChildJvm child = server) {
            connection.close();
            waitFor(() -> client.rpc.connectionCount() == 0, "the connection's RPC state to go");
        }
    }
}
