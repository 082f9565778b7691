package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.testing.Leaks;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A send that fails on the caller's own mistake (a payload shorter than the length it names) fails alone: it gives
 * back what it took on the way, so the connection goes on serving every other sender. Before the fixes, the first
 * test's failed frame kept its ring record claimed, and every frame any application thread queued behind it waited
 * for good (3 of 3 runs failed); the second test's request kept its in-flight slot for good, and its handler would
 * later have been told of a request whose caller had got the exception (3 of 3 runs failed); the third test's
 * connection closed instead of answering (3 of 3 runs failed). After them, none.
 */
class FailedSendReleasesItsClaimsTest {
    private TransportPair pair;
    private Connection connection;
    private FileDescriptor[] passed;

    @BeforeEach
    void start() throws Exception {
        passed = FileDescriptor.pipe();
        pair = new TransportPair(TransportOptions.defaults(), TransportOptions.builder().maxInFlight(1).build());
        connection = pair.connect((c, frame) -> {
            if (frame.type() != FrameType.REQUEST) {
                return;
            }
            if (frame.methodId() == 2) { // answers with an fd and a payload shorter than the length it names
                c.respond(frame.correlationId(), new UnsafeBuffer(new byte[8]), 0, 16, passed[1]);
            }
            c.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength());
        });
    }

    @AfterEach
    void stop() throws Exception {
        pair.close();
        passed[0].close();
        passed[1].close();
    }

    @Test
    void aFrameThatFailsAfterItsClaimDoesNotHoldUpTheRing() {
        UnsafeBuffer shorter = new UnsafeBuffer(new byte[8]);
        assertThrows(IndexOutOfBoundsException.class, () -> connection.offerNotify(1, 1, shorter, 0, 16));
        byte[] bytes = {1, 2, 3, 4, 5, 6, 7, 8};
        Response reply = connection.call(1, 1, new UnsafeBuffer(bytes), 0, bytes.length, 5_000);
        assertArrayEquals(bytes, reply.payload());
    }

    @Test
    void aRequestThatFailsToSendGivesItsSlotBackAndItsHandlerNeverHears() {
        AtomicInteger heard = new AtomicInteger();
        ReplyHandler counting = new ReplyHandler() {
            @Override
            public void onReply(long id, InboundFrame reply) {
                heard.incrementAndGet();
            }

            @Override
            public void onFailure(long id, StatusException failure) {
                heard.incrementAndGet();
            }
        };
        UnsafeBuffer shorter = new UnsafeBuffer(new byte[8]);
        assertThrows(IndexOutOfBoundsException.class,
                () -> connection.request(1, 1, shorter, 0, 16, 5_000, counting));
        assertEquals(0, connection.inFlight(), "the failed request's slot");
        byte[] bytes = {1, 2, 3, 4, 5, 6, 7, 8};
        Response reply = connection.call(1, 1, new UnsafeBuffer(bytes), 0, bytes.length, 5_000);
        assertArrayEquals(bytes, reply.payload());
        pair.client.close(); // fails whatever is still in flight: a handler the table kept would hear of it now
        assertEquals(0, heard.get(), "the handler of a request whose caller got the exception");
    }

    /**
     * Loop work that fails to stage a reply with fds (its listener's mistake) leaves staging as it was: the
     * connection answers the request INTERNAL, as for any listener that throws. Before the fix, staging had already
     * recorded the frame's fds, which the sender then closed: the ERROR reply staged next at the same place went
     * out with sendmsg and those closed numbers (or whatever files had taken them meanwhile), and the write failed,
     * closing the connection.
     */
    @Test
    void loopWorkThatFailsToStageAFrameWithFdsLeavesNoFdsBehindInStaging() throws Exception {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
        // connect returns once the kernel has queued the connection; the server's loop accepts it when it gets to
        // it, which the fd count below must not see: a round trip first.
        assertEquals(8, connection.call(1, 1, payload, 0, 8, 5_000).payload().length);
        TreeMap<Integer, String> fdsBefore = Leaks.openFds();
        StatusException failure = assertThrows(StatusException.class,
                () -> connection.call(1, 2, payload, 0, 8, 5_000));
        assertEquals(StatusCode.INTERNAL, failure.code(), failure.toString());
        assertTrue(connection.isOpen());
        assertNull(Leaks.fdsLeftOver(fdsBefore));
    }
}
