package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.testing.Leaks;
import dev.capwire.wire.StatusCode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * An application thread sending fds while the transport stops: whatever it gets (the send done, or UNAVAILABLE),
 * the fds it handed over are closed, though the loop that would have drained its ring is gone. The interleaving is
 * forced, not hoped for: the payload holds the sender at one point of its send until the transport has stopped.
 * Before the fix both tests failed every run (3 of 3): the duplicated fd sat in a ring nobody drains any more.
 * After it, neither did (0 of 3).
 */
class StoppedLoopRingFdsTest {
    /** Where the payload holds its sender: the calls a send makes on it at that point. */
    private enum Hold {
        /** Before the ring is touched: the send's own bounds check. */
        BEFORE_CLAIM,
        /** Inside a claimed ring record, before its commit: the copy of the payload into it. */
        INSIDE_CLAIM
    }

    private Path dir;
    private Transport server;
    private Endpoint endpoint;

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwr");
        endpoint = Endpoint.unix(dir.resolve("s"));
        server = Transport.create(TransportOptions.defaults());
        server.listen(endpoint, (connection, frame) -> { });
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
        Files.deleteIfExists(dir.resolve("s"));
        Files.deleteIfExists(dir);
    }

    /** The record was claimed while the connection was open, and is committed once its loop has stopped. */
    @Test
    void fdsCommittedToARingAfterItsLoopStoppedAreClosed() throws Exception {
        sendHeldWhileTheTransportStops(Hold.INSIDE_CLAIM);
    }

    /** The connection had no ring yet when it closed; the sender takes one after its loop has stopped. */
    @Test
    void fdsSentOnAConnectionClosedBeforeItHadARingAreClosed() throws Exception {
        sendHeldWhileTheTransportStops(Hold.BEFORE_CLAIM);
    }

    private void sendHeldWhileTheTransportStops(Hold hold) throws Exception {
        TreeMap<Integer, String> fdsBefore = Leaks.openFds();
        FileDescriptor[] pipe = FileDescriptor.pipe();
        Transport client = Transport.create(TransportOptions.builder().eventLoops(1).build());
        Connection connection = client.connect(endpoint, (c, f) -> { });
        HeldPayload payload = new HeldPayload(hold);
        CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        Thread sender = new Thread(() -> {
            try {
                connection.sendNotify(2, 0, payload, 0, payload.capacity(), 10_000, pipe[1]);
                outcome.complete(null);
            } catch (Throwable failure) {
                outcome.complete(failure);
            }
        });
        sender.start();
        assertTrue(payload.reached.await(10, TimeUnit.SECONDS), "the send never reached " + hold);
        client.close();
        payload.letGo.countDown();
        Throwable failure = outcome.get(10, TimeUnit.SECONDS);
        if (failure != null) {
            assertTrue(failure instanceof StatusException, String.valueOf(failure));
            assertEquals(StatusCode.UNAVAILABLE, ((StatusException) failure).code(), failure.toString());
        }
        pipe[0].close();
        pipe[1].close();
        assertNull(Leaks.fdsLeftOver(fdsBefore), "fds of a send caught by the stop");
    }

    /** A payload that holds its sender the first time the send reaches {@code hold}, until let go. */
    private static final class HeldPayload extends UnsafeBuffer {
        final CountDownLatch reached = new CountDownLatch(1);
        final CountDownLatch letGo = new CountDownLatch(1);
        private final Hold hold;

        HeldPayload(Hold hold) {
            super(new byte[8]);
            this.hold = hold;
        }

        @Override
        public void boundsCheck(int index, int length) {
            holdIf(Hold.BEFORE_CLAIM);
            super.boundsCheck(index, length);
        }

        @Override
        public byte[] byteArray() {
            holdIf(Hold.INSIDE_CLAIM);
            return super.byteArray();
        }

        private void holdIf(Hold point) {
            if (point != hold || reached.getCount() == 0) {
                return;
            }
            reached.countDown();
            try {
                letGo.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
