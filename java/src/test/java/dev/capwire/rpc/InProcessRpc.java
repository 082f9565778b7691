package dev.capwire.rpc;

import dev.capwire.testing.SocketDir;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Server;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.UnaryOperator;

/**
 * Both ends of an RPC connection in this JVM, over a real Unix socket: one transport, a serving {@link Rpc} and a
 * calling one, both running handlers on one cached pool. For tests of the RPC layer's own bookkeeping, where a
 * second process would add nothing but the time to start it.
 */
final class InProcessRpc implements AutoCloseable {
    final Transport transport;
    final ExecutorService handlers;
    final Rpc server;
    final Rpc client;
    final Server listening;
    final Connection connection;

    InProcessRpc(SocketDir dir) throws Exception {
        this(dir, options -> options);
    }

    /** {@code serverOptions} adds to the server's options (the executor is set already). */
    InProcessRpc(SocketDir dir, UnaryOperator<RpcOptions.Builder> serverOptions) throws Exception {
        this(dir, TransportOptions.defaults(), serverOptions, options -> options);
    }

    /** {@code serverOptions} and {@code clientOptions} add to each side's options (the executor is set already). */
    InProcessRpc(SocketDir dir, UnaryOperator<RpcOptions.Builder> serverOptions,
            UnaryOperator<RpcOptions.Builder> clientOptions) throws Exception {
        this(dir, TransportOptions.defaults(), serverOptions, clientOptions);
    }

    /** As above, both sides on one transport with {@code transportOptions}. */
    InProcessRpc(SocketDir dir, TransportOptions transportOptions, UnaryOperator<RpcOptions.Builder> serverOptions,
            UnaryOperator<RpcOptions.Builder> clientOptions) throws Exception {
        transport = Transport.create(transportOptions);
        handlers = Executors.newCachedThreadPool();
        server = Rpc.create(serverOptions.apply(RpcOptions.builder().executor(handlers)).build());
        client = Rpc.create(clientOptions.apply(RpcOptions.builder().executor(handlers)).build());
        Endpoint endpoint = dir.endpoint("rpc-" + System.nanoTime());
        listening = transport.listen(endpoint, server.listener());
        connection = transport.connect(endpoint, client.listener());
    }

    /** The client's side of the connection. */
    RpcConnection peer() {
        return client.connection(connection);
    }

    @Override
    public void close() throws Exception {
        connection.close();
        listening.close();
        transport.close();
        handlers.shutdownNow();
    }
}
