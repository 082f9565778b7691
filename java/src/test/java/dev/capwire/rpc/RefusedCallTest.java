package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.rpc.OtherCaps.One;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.Connection;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A call the receiver refuses before its handler could take its arguments (here its {@code maxInFlight}; a revoked
 * or unknown cap is the same path) still carried caps, each a reference the caller counted for the receiver: the
 * receiver gives them back, or the caller keeps the caps exported for as long as the connection lasts.
 * Deterministic: failed every run before the fix (the caller's export count stayed at 2).
 */
class RefusedCallTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpcrefused");

    @Capability(name = "taker", version = "1.0.0")
    interface Taker {
        /** Holds until the test lets it go. */
        @Method(1)
        byte[] take(One one);
    }

    private InProcessRpc peers;
    private Rpc server;
    private Rpc client;
    private Connection connection;
    private final CountDownLatch running = new CountDownLatch(1);
    private final CountDownLatch mayReturn = new CountDownLatch(1);

    @BeforeEach
    void start() throws Exception {
        peers = new InProcessRpc(DIR, options -> options.maxInFlight(1));
        server = peers.server;
        client = peers.client;
        connection = peers.connection;
        server.serve(Taker.class, one -> {
            running.countDown();
            try {
                mayReturn.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return one.get();
        }, IfExists.THROW);
    }

    @AfterEach
    void stop() throws Exception {
        mayReturn.countDown();
        peers.close();
    }

    @Test
    void aCapInACallRefusedForTheReceiversMaxInFlightIsReleased() throws Exception {
        Taker taker = client.connection(connection).bootstrap(Taker.class);
        byte[] first = {1};
        byte[] second = {2};
        CompletableFuture<byte[]> held = CompletableFuture.supplyAsync(() -> taker.take(() -> first), peers.handlers);
        assertTrue(running.await(10, TimeUnit.SECONDS));
        assertEquals(1, client.exportCount(), "the held call's cap");
        StatusException refused = assertThrows(StatusException.class, () -> taker.take(() -> second));
        assertEquals(StatusCode.RESOURCE_EXHAUSTED, refused.code());
        assertEquals("capwire.rpc.maxInFlight", refused.reason());
        // The RELEASE comes after the refusal, on the same connection, and nothing on this side hears of its
        // arrival: waited for.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (client.exportCount() != 1 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(1, client.exportCount(), "the refused call's cap was given back");
        mayReturn.countDown();
        assertArrayEquals(first, held.get(10, TimeUnit.SECONDS));
    }
}
