package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeIoException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Closing a server from a thread that does not run its loop, on an invoker-mode transport: only the owning
 * thread may run the loop, so the close waits for the owner's polls, and a caller never hangs on an owner
 * that stopped polling.
 */
class InvokerServerCloseTest {
    private static final long CLOSE_TIMEOUT_MS = 200;

    private Path dir;
    private Transport invoker;

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwi");
        invoker = Transport.create(TransportOptions.builder().eventLoops(0).closeTimeoutMs(CLOSE_TIMEOUT_MS).build());
    }

    @AfterEach
    void stop() throws Exception {
        invoker.close();
        Files.deleteIfExists(dir.resolve("s"));
        Files.deleteIfExists(dir);
    }

    @Test
    void aCloseFromAnotherThreadIsDoneByTheOwnersNextPoll() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
        Server server = invoker.listen(endpoint, (connection, frame) -> { });
        CompletableFuture<Void> closing = CompletableFuture.runAsync(server::close);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!closing.isDone() && System.nanoTime() < deadline) {
            invoker.poll();
        }
        closing.get(0, TimeUnit.SECONDS); // done, and without an exception
        assertFalse(Files.exists(dir.resolve("s")), "the socket file outlived the server's close");
        assertThrows(NativeIoException.class, () -> invoker.connect(endpoint, (connection, frame) -> { }));
    }

    @Test
    void aCloseFromAnotherThreadFailsInTimeWhenTheOwnerDoesNotPollAndTheNextPollDoesIt() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
        Server server = invoker.listen(endpoint, (connection, frame) -> { });
        long started = System.nanoTime();
        ExecutionException failed = assertThrows(ExecutionException.class,
                () -> CompletableFuture.runAsync(server::close).get(10, TimeUnit.SECONDS));
        long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        assertTrue(failed.getCause() instanceof IllegalStateException, failed.getCause().toString());
        assertTrue(failed.getCause().getMessage().contains("invoker mode: it runs when the owning thread next calls"
                + " Transport.poll()"), failed.getCause().getMessage());
        assertTrue(waitedMs >= CLOSE_TIMEOUT_MS + 1000 && waitedMs < 8_000, "waited " + waitedMs + " ms");
        assertTrue(Files.exists(dir.resolve("s")), "nothing may run the loop but its owner");
        invoker.poll(); // the queued close runs now
        assertFalse(Files.exists(dir.resolve("s")), "the owner's poll did not run the queued close");
        assertEquals(0, invoker.connectionCount());
    }
}
