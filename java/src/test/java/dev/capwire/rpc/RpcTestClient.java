package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.testing.ChildJvm;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.UnaryOperator;

/**
 * The calling side of the cross-process RPC tests: one transport, handler threads and {@link Rpc} for a test
 * class, the connection to a child JVM's service "app", and the wait the tests use.
 */
final class RpcTestClient implements AutoCloseable {
    final Transport transport;
    final ExecutorService handlers;
    final Rpc rpc;

    RpcTestClient() throws Exception {
        this(UnaryOperator.identity());
    }

    /** With RPC options of the test's own, beside the client's handler threads. */
    RpcTestClient(UnaryOperator<RpcOptions.Builder> options) throws Exception {
        transport = Transport.create(TransportOptions.defaults());
        handlers = Executors.newCachedThreadPool();
        rpc = Rpc.create(options.apply(RpcOptions.builder().executor(handlers)).build());
    }

    /** Connects to the service "app" of {@code child}, at the endpoint it printed after {@code READY}. */
    NegotiatedConnection connect(ChildJvm child) throws Exception {
        return HandshakeClient.connect(transport, Endpoint.parse(child.expect("READY", 30)),
                ClientOptions.builder("app").build(), rpc.listener());
    }

    @Override
    public void close() throws Exception {
        transport.close();
        handlers.shutdownNow();
        assertTrue(handlers.awaitTermination(10, TimeUnit.SECONDS));
    }

    /** Waits up to 10 s for {@code condition}; fails naming {@code what}. */
    static void waitFor(BooleanSupplier condition, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(5);
        }
    }

    /** Sleeps, keeping an interrupt for the caller to see. */
    static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
