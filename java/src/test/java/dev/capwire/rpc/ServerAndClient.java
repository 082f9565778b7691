package dev.capwire.rpc;

import static dev.capwire.rpc.RpcTestClient.waitFor;

import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import java.util.List;

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

    @Override
    public void close() throws Exception {
        try (RpcTestClient closing = client; ChildJvm child = server) {
            connection.close();
            waitFor(() -> client.rpc.connectionCount() == 0, "the connection's RPC state to go");
        }
    }
}
