package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.wire.StatusCode;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link Connection#request(int, int, org.agrona.DirectBuffer, int, int, long, ReplyHandler,
 * dev.capwire.bindings.FileDescriptor...)} against an echo server in a child JVM: each request's outcome reaches
 * its handler exactly once, late replies never reach a later request that reuses the slot, cancelling frees
 * the slot without calling the handler, and a handler that throws cannot take the loop with it.
 */
class ReplyHandlerAcrossProcessesTest {
    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cwr");

    private static ChildJvm echoServer(Endpoint endpoint) throws Exception {
        ChildJvm child = ChildJvm.start(EchoServerMain.class, endpoint.toString());
        child.expect("READY", 30);
        return child;
    }

    /** Records every outcome it hears, by correlation id; flags any id heard twice. */
    private static final class Outcomes implements ReplyHandler {
        final ConcurrentHashMap<Long, Object> byId = new ConcurrentHashMap<>();
        final AtomicReference<String> problem = new AtomicReference<>();
        final AtomicInteger count = new AtomicInteger();

        @Override
        public void onReply(long correlationId, InboundFrame reply) {
            record(correlationId, reply.buffer().getLong(reply.payloadOffset()));
        }

        @Override
        public void onFailure(long correlationId, StatusException failure) {
            record(correlationId, failure);
        }

        private void record(long id, Object outcome) {
            if (byId.putIfAbsent(id, outcome) != null) {
                problem.compareAndSet(null, "request " + id + " heard twice");
            }
            count.incrementAndGet();
        }

        void awaitCount(int expected) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (count.get() < expected && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertEquals(expected, count.get(), "outcomes heard");
        }
    }

    @Test
    void everyReplyReachesItsOwnRequestOnceAndIdsIncreaseInStartOrder() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("many");
        try (ChildJvm child = echoServer(endpoint); Transport transport = Transport.create(TransportOptions.defaults())) {
            Connection connection = transport.connect(endpoint, (c, f) -> { });
            Outcomes outcomes = new Outcomes();
            UnsafeBuffer payload = new UnsafeBuffer(new byte[16]);
            int total = 200_000;
            long[] ids = new long[total];
            for (int i = 0; i < total; i++) {
                while (i - outcomes.count.get() >= 1000) {
                    Thread.yield();
                }
                payload.putLong(0, i);
                ids[i] = connection.request(2, 1, payload, 0, 16, 30_000, outcomes);
                if (i > 0 && Long.compareUnsigned(ids[i], ids[i - 1]) <= 0) {
                    throw new AssertionError("id " + ids[i] + " after " + ids[i - 1]);
                }
            }
            outcomes.awaitCount(total);
            assertNull(outcomes.problem.get());
            for (int i = 0; i < total; i++) {
                assertEquals((long) i, outcomes.byId.get(ids[i]), "the reply to request " + i);
            }
            assertEquals(0, connection.inFlight());
        }
    }

    @Test
    void aReplyAfterItsDeadlineNeverReachesTheRequestThatReusesItsSlot() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("late");
        // One slot: every request reuses it, so a late reply would land on the next request if ids were reused.
        TransportOptions options = TransportOptions.builder().maxInFlight(1).build();
        try (ChildJvm child = echoServer(endpoint); Transport transport = Transport.create(options)) {
            Connection connection = transport.connect(endpoint, (c, f) -> { });
            Outcomes outcomes = new Outcomes();
            UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
            payload.putLong(0, 111);
            long late = connection.request(2, EchoServerMain.METHOD_DELAY, payload, 0, 8, 50, outcomes);
            outcomes.awaitCount(1);
            StatusException expired = (StatusException) outcomes.byId.get(late);
            assertEquals(StatusCode.DEADLINE_EXCEEDED, expired.code());
            assertEquals(0, connection.inFlight(), "the deadline freed the slot");
            // The next request takes the same slot and is answered after the late reply came and was dropped.
            payload.putLong(0, 222);
            long next = connection.request(2, EchoServerMain.METHOD_DELAY, payload, 0, 8, 30_000, outcomes);
            outcomes.awaitCount(2);
            assertEquals(222L, outcomes.byId.get(next));
            assertEquals(2, outcomes.count.get());
            assertNull(outcomes.problem.get());
        }
    }

    @Test
    void aCancelledRequestFreesItsSlotAndItsHandlerIsNeverCalled() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("cancel");
        TransportOptions options = TransportOptions.builder().maxInFlight(1).build();
        try (ChildJvm child = echoServer(endpoint); Transport transport = Transport.create(options)) {
            Connection connection = transport.connect(endpoint, (c, f) -> { });
            Outcomes cancelled = new Outcomes();
            UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
            long held = connection.request(2, EchoServerMain.METHOD_DELAY, payload, 0, 8, 30_000, cancelled);
            StatusException full = assertThrows(StatusException.class,
                    () -> connection.request(2, 1, payload, 0, 8, 30_000, cancelled));
            assertEquals(StatusCode.RESOURCE_EXHAUSTED, full.code());
            assertTrue(connection.cancelRequest(held));
            assertFalse(connection.cancelRequest(held), "a second cancel finds nothing to cancel");
            assertEquals(0, connection.inFlight());
            Outcomes after = new Outcomes();
            payload.putLong(0, 7);
            long next = connection.request(2, 1, payload, 0, 8, 30_000, after);
            after.awaitCount(1);
            assertEquals(7L, after.byId.get(next));
            Thread.sleep(EchoServerMain.DELAY_MS + 200); // the cancelled request's reply comes, and is dropped
            assertEquals(0, cancelled.count.get(), "the cancelled request's handler was called");
        }
    }

    @Test
    void closingFailsPendingRequestsUnavailableAndLaterRequestsThrow() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("close");
        try (ChildJvm child = echoServer(endpoint); Transport transport = Transport.create(TransportOptions.defaults())) {
            Connection connection = transport.connect(endpoint, (c, f) -> { });
            Outcomes outcomes = new Outcomes();
            UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
            long pending = connection.request(2, EchoServerMain.METHOD_HOLD, payload, 0, 8, 30_000, outcomes);
            connection.close();
            outcomes.awaitCount(1);
            assertEquals(StatusCode.UNAVAILABLE, ((StatusException) outcomes.byId.get(pending)).code());
            StatusException refused = assertThrows(StatusException.class,
                    () -> connection.request(2, 1, payload, 0, 8, 30_000, outcomes));
            assertEquals(StatusCode.UNAVAILABLE, refused.code());
            Thread.sleep(100);
            assertEquals(1, outcomes.count.get(), "a request that threw was also handed to its handler");
        }
    }

    @Test
    void aThrowingHandlerIsReportedAndAnErrorClosesOnlyItsOwnConnection() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("throw");
        List<Throwable> reported = new CopyOnWriteArrayList<>();
        TransportOptions options = TransportOptions.builder().errorHandler(reported::add).build();
        try (ChildJvm child = echoServer(endpoint); Transport transport = Transport.create(options)) {
            Connection bystander = transport.connect(endpoint, (c, f) -> { });
            Connection connection = transport.connect(endpoint, (c, f) -> { });
            UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
            CountDownLatch thrown = new CountDownLatch(1);
            connection.request(2, 1, payload, 0, 8, 30_000, new ReplyHandler() {
                @Override
                public void onReply(long correlationId, InboundFrame reply) {
                    thrown.countDown();
                    throw new IllegalStateException("deliberate failure in a reply handler");
                }

                @Override
                public void onFailure(long correlationId, StatusException failure) {
                }
            });
            assertTrue(thrown.await(30, TimeUnit.SECONDS));
            assertEquals(8, connection.call(2, 1, payload, 0, 8, 30_000).payload().length,
                    "a RuntimeException leaves the connection working");
            assertTrue(reported.stream().anyMatch(e -> String.valueOf(e.getCause()).contains("deliberate failure")),
                    "reported: " + reported);

            connection.request(2, 1, payload, 0, 8, 30_000, new ReplyHandler() {
                @Override
                public void onReply(long correlationId, InboundFrame reply) {
                    throw new AssertionError("deliberate Error in a reply handler");
                }

                @Override
                public void onFailure(long correlationId, StatusException failure) {
                }
            });
            CloseReason why = connection.closeFuture().get(30, TimeUnit.SECONDS);
            assertTrue(why.toString().contains("deliberate Error"), why.toString());
            assertEquals(8, bystander.call(2, 1, payload, 0, 8, 30_000).payload().length,
                    "another connection on the same loop carries on");
        }
    }
}
