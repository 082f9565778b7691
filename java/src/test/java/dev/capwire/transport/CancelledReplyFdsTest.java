package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.testing.Leaks;
import dev.capwire.wire.FrameType;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A request's future cancelled just as its reply arrives: the loop wins the slot, and the reply's fds reach a
 * future that can no longer take them. They must be closed, not left open for good (no cleaner closes a
 * {@link FileDescriptor}). The interleaving is forced, not hoped for: the future's own completion stage runs
 * inside {@code cancel}, after the future is cancelled and before {@code cancelRequest}, and there the peer
 * answers and the test waits until the loop has claimed the reply. Before the fix it failed every run (the
 * passed fd stayed open); after it, none.
 */
class CancelledReplyFdsTest {
    private TransportPair pair;

    @BeforeEach
    void start() throws Exception {
        pair = new TransportPair();
    }

    @AfterEach
    void stop() throws Exception {
        pair.close();
    }

    @Test
    void fdsOfAReplyThatLostTheRaceWithCancelAreClosed() throws Exception {
        CompletableFuture<Connection> held = new CompletableFuture<>();
        CompletableFuture<Long> heldId = new CompletableFuture<>();
        Connection connection = pair.connect((serving, frame) -> {
            if (frame.type() != FrameType.REQUEST) {
                return;
            }
            if (frame.methodId() == 1) {
                held.complete(serving); // answered later, by the test
                heldId.complete(frame.correlationId());
            } else {
                serving.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(),
                        frame.payloadLength());
            }
        });
        UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
        CompletableFuture<Response> reply = connection.request(1, 1, payload, 0, 8, 10_000);
        Connection serverSide = held.get(10, TimeUnit.SECONDS);
        long id = heldId.get(10, TimeUnit.SECONDS);
        TreeMap<Integer, String> fdsBefore = Leaks.openFds();
        FileDescriptor[] pipe = FileDescriptor.pipe();
        CompletableFuture<Void> claimedByLoop = new CompletableFuture<>();
        reply.whenComplete((response, failure) -> {
            // Cancelled, and cancelRequest not yet called: the reply comes now and the loop claims its slot.
            serverSide.respond(id, payload, 0, 8, pipe[1]);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (connection.inFlight() != 0 && System.nanoTime() - deadline < 0) {
                Thread.onSpinWait();
            }
            claimedByLoop.complete(null);
        });
        assertTrue(reply.cancel(true));
        assertTrue(claimedByLoop.isDone());
        assertEquals(0, connection.inFlight(), "the loop took the reply");
        // Replies are handled in order: once this one is in, the cancelled one's handler has returned.
        connection.call(1, 2, payload, 0, 8, 10_000);
        assertTrue(reply.isCancelled());
        pipe[0].close();
        pipe[1].close();
        assertNull(Leaks.fdsLeftOver(fdsBefore), "fds the cancelled future could not take");
    }
}
