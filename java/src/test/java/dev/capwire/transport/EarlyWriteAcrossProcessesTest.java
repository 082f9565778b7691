package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code capwire.earlyWriteBytes}: frames an invoker-mode application stages (loop work, like a loop's replies) go
 * out once a write's worth has built up, before the application next runs the loop, so the peer can start on them;
 * with it at 0 they wait for the next {@code poll()}. A peer that is gone makes the early write fail quietly: the
 * sends go on, and the loop's next cycle closes the connection with the write's error.
 */
class EarlyWriteAcrossProcessesTest {
    private static final int EARLY_WRITE_BYTES = 4096;
    private static final int FRAMES = 100;
    private static final int PAYLOAD_BYTES = 100; // 100 frames of 132 bytes: three early writes' worth and more

    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cwew");

    @Test
    void anInvokerApplicationsBatchReachesThePeerBeforeItPolls() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("early");
        try (ChildJvm child = counter(endpoint);
                Transport invoker = invoker(EARLY_WRITE_BYTES);
                Connection connection = invoker.connect(endpoint, (c, f) -> { })) {
            sendBatch(connection);
            // No poll() from here on: only early writes can have sent anything.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            int received = count(child);
            while (received < FRAMES - EARLY_WRITE_BYTES / PAYLOAD_BYTES && System.nanoTime() < deadline) {
                Thread.sleep(10);
                received = count(child);
            }
            assertTrue(received >= FRAMES - EARLY_WRITE_BYTES / PAYLOAD_BYTES, "the peer received " + received
                    + " of " + FRAMES + " frames before the application polled");
            assertTrue(received <= FRAMES);
        }
    }

    @Test
    void withEarlyWritesOffTheBatchWaitsForThePoll() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("late");
        try (ChildJvm child = counter(endpoint);
                Transport invoker = invoker(0);
                Connection connection = invoker.connect(endpoint, (c, f) -> { })) {
            sendBatch(connection);
            Thread.sleep(300);
            assertEquals(0, count(child), "nothing goes out before the application runs the loop");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            int received = 0;
            while (received < FRAMES && System.nanoTime() < deadline) {
                invoker.poll();
                Thread.sleep(1);
                received = count(child);
            }
            assertEquals(FRAMES, received, "the poll sent them all");
        }
    }

    @Test
    void aPeerThatIsGoneFailsNoSendAndTheNextCycleClosesTheConnection() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("gone");
        ChildJvm child = counter(endpoint);
        try (Transport invoker = invoker(EARLY_WRITE_BYTES);
                Connection connection = invoker.connect(endpoint, (c, f) -> { })) {
            child.kill();
            sendBatch(connection); // early writes into a socket whose peer is gone: each send still returns
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!connection.closeFuture().isDone() && System.nanoTime() < deadline) {
                invoker.poll();
                Thread.sleep(1);
            }
            CloseReason reason = connection.closeFuture().getNow(null);
            assertNotNull(reason, "the connection closed once the loop ran");
        } finally {
            child.close();
        }
    }

    private static ChildJvm counter(Endpoint endpoint) throws Exception {
        ChildJvm child = ChildJvm.start(NotifyCountServerMain.class, endpoint.toString());
        child.expect("READY", 30);
        return child;
    }

    private static Transport invoker(int earlyWriteBytes) throws Exception {
        return Transport.create(TransportOptions.builder().eventLoops(0).earlyWriteBytes(earlyWriteBytes).build());
    }

    /** From the invoker's own thread, outside any poll: loop work, so staged. */
    private static void sendBatch(Connection connection) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[PAYLOAD_BYTES]);
        for (int i = 0; i < FRAMES; i++) {
            payload.putInt(0, i);
            connection.sendNotify(2, 1, payload, 0, PAYLOAD_BYTES, 5_000);
        }
    }

    private static int count(ChildJvm child) throws Exception {
        child.send("count");
        return Integer.parseInt(child.expect("COUNT", 10));
    }
}
