package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.wire.FrameType;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A blocking call on an invoker-mode transport's own thread runs the loop while it waits; a long wait must park
 * that thread in the poller rather than spin it for the whole wait, and the answer must still wake it.
 */
class InvokerWaitTest {
    private static final long HOLD_MS = 2000;

    private Path dir;
    private Transport server;
    private Transport invoker;
    private ScheduledExecutorService later;

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwiw");
        server = Transport.create(TransportOptions.defaults());
        invoker = Transport.create(TransportOptions.builder().eventLoops(0).build());
        later = Executors.newSingleThreadScheduledExecutor();
    }

    @AfterEach
    void stop() throws Exception {
        invoker.close();
        server.close();
        later.shutdownNow();
        Files.deleteIfExists(dir.resolve("s"));
        Files.deleteIfExists(dir);
    }

    @Test
    void aLongBlockingCallParksTheInvokerThreadAndItsAnswerStillWakesIt() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
        server.listen(endpoint, (connection, frame) -> {
            if (frame.type() == FrameType.REQUEST) {
                byte[] payload = frame.payloadBytes();
                long id = frame.correlationId();
                later.schedule(() -> connection.respond(id, new UnsafeBuffer(payload), 0, payload.length), HOLD_MS,
                        TimeUnit.MILLISECONDS);
            }
        });
        try (Connection connection = invoker.connect(endpoint, (c, f) -> { })) {
            ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            long cpuBefore = threads.getCurrentThreadCpuTime();
            long started = System.nanoTime();
            Response reply = connection.call(1, 1, new UnsafeBuffer("late".getBytes()), 0, 4, 10_000);
            long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            long cpuMs = TimeUnit.NANOSECONDS.toMillis(threads.getCurrentThreadCpuTime() - cpuBefore);
            assertArrayEquals("late".getBytes(), reply.payload());
            assertTrue(waitedMs >= HOLD_MS - 50 && waitedMs < HOLD_MS + 1000, "the answer came after " + waitedMs
                    + " ms, held " + HOLD_MS);
            // Spinning for the whole wait costs about HOLD_MS of CPU (half of it on a host this busy); parked, the
            // owner wakes for its slices and its timers only.
            assertTrue(cpuMs < HOLD_MS / 5, "the invoker thread used " + cpuMs + " ms of CPU in a " + waitedMs
                    + " ms wait");
        }
    }
}
