package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.rpc.OtherCaps.Maker;
import dev.capwire.rpc.OtherCaps.One;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.Connection;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An answer that comes after its caller stopped waiting (the call's deadline passed, or the caller cancelled
 * it) is dropped, but the caps in it were exported for the caller all the same: each sender-hosted descriptor
 * gave the caller a reference, which it must give back, or the server keeps the cap (and its place under
 * {@code maxCaps}) for as long as the connection lasts. Deterministic: before the fix both tests failed every
 * run (the server's export count stayed at 2); the server's handler is held by a latch until the caller has
 * given up.
 */
class LateAnswerTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpclate");

    /** The same cap as the caller declares it, in the future form it can cancel. */
    @Capability(name = "maker", version = "1.0.0")
    interface AsyncMaker {
        @Method(1)
        CompletableFuture<One> make();
    }

    private InProcessRpc peers;
    private Rpc server;
    private Rpc client;
    private Connection connection;
    private final CountDownLatch called = new CountDownLatch(1);
    private final CountDownLatch mayAnswer = new CountDownLatch(1);
    private final CountDownLatch answered = new CountDownLatch(1);

    @BeforeEach
    void start() throws Exception {
        RpcObserver observer = new RpcObserver() {
            @Override
            public void served(long connectionId, String capName, String methodName, StatusCode status, long nanos) {
                if (capName.equals("maker")) {
                    answered.countDown(); // reported after the answer left
                }
            }
        };
        peers = new InProcessRpc(DIR, options -> options.observer(observer));
        server = peers.server;
        client = peers.client;
        connection = peers.connection;
        server.serve(Maker.class, () -> {
            called.countDown();
            awaitIgnoringCancellation(mayAnswer);
            byte[] content = {7};
            return () -> content;
        }, IfExists.THROW);
    }

    @AfterEach
    void stop() throws Exception {
        mayAnswer.countDown();
        peers.close();
    }

    private static void awaitIgnoringCancellation(CountDownLatch latch) {
        for (;;) {
            try {
                latch.await();
                return;
            } catch (InterruptedException e) {
                // a handler that does not stop when its call is cancelled: the case under test
            }
        }
    }

    @Test
    void aCapAnsweredAfterTheCallersDeadlineIsReleased() throws Exception {
        Maker maker = client.connection(connection).bootstrap(Maker.class);
        assertEquals(1, server.exportCount());
        StatusException late = assertThrows(StatusException.class,
                () -> CallContext.withTimeout(Duration.ofMillis(100), maker::make));
        assertEquals(StatusCode.DEADLINE_EXCEEDED, late.code());
        assertTrue(called.await(10, TimeUnit.SECONDS));
        answerAndExpectTheCapReleased();
        assertArrayEquals(new byte[] {7}, maker.make().get(), "the connection works on");
    }

    @Test
    void aCapAnsweredAfterTheCallerCancelledIsReleased() throws Exception {
        AsyncMaker maker = client.connection(connection).bootstrap(AsyncMaker.class);
        assertEquals(1, server.exportCount());
        CompletableFuture<One> made = maker.make();
        assertTrue(called.await(10, TimeUnit.SECONDS));
        assertTrue(made.cancel(true));
        assertThrows(CancellationException.class, made::join);
        answerAndExpectTheCapReleased();
    }

    private void answerAndExpectTheCapReleased() throws InterruptedException {
        mayAnswer.countDown();
        assertTrue(answered.await(10, TimeUnit.SECONDS));
        // The RELEASE follows the dropped answer by a loop turn or two on either side: waited for, not latched,
        // since nothing on this side hears of its arrival.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (server.exportCount() != 1 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(1, server.exportCount(), "the maker only: the late answer's cap was given back");
        assertEquals(0, client.importCount() - 1, "the caller holds the maker only");
    }
}
