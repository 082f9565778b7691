package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link NotifyBatch} with an echo server in a child JVM: frames written in place in the ring, by several threads
 * at once, each thread mixing batches with {@code offerNotify}, come back whole, once each and in each thread's
 * order; an aborted batch sends nothing; a batch begun on the loop's thread goes out through staging.
 */
class NotifyBatchAcrossProcessesTest {
    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cwnb");

    /** Payload: the sending thread's number, its sequence number, then bytes derived from both. */
    private static final int THREAD_OFFSET = 0;
    private static final int SEQUENCE_OFFSET = 4;
    private static final int FILL_OFFSET = 12;

    private static ChildJvm echoServer(Endpoint endpoint) throws Exception {
        ChildJvm child = ChildJvm.start(EchoServerMain.class, List.of(), endpoint.toString());
        child.expect("READY", 30);
        return child;
    }

    private static int payloadLength(long sequence) {
        return FILL_OFFSET + (int) (sequence % 200); // 12 to 211 bytes, so frames straddle batch ends
    }

    private static void writePayload(MutableDirectBuffer buffer, int at, int thread, long sequence) {
        buffer.putInt(at + THREAD_OFFSET, thread);
        buffer.putLong(at + SEQUENCE_OFFSET, sequence);
        for (int i = FILL_OFFSET; i < payloadLength(sequence); i++) {
            buffer.putByte(at + i, (byte) (thread * 31 + sequence + i));
        }
    }

    /** Checks each thread's frames arrive in its order, once each, byte for byte. */
    private static final class PerThreadOrder implements FrameListener {
        final AtomicLong received = new AtomicLong();
        final AtomicReference<String> problem = new AtomicReference<>();
        private final long[] next;

        PerThreadOrder(int threads) {
            next = new long[threads];
        }

        @Override
        public void onFrame(Connection connection, InboundFrame frame) {
            int thread = frame.buffer().getInt(frame.payloadOffset() + THREAD_OFFSET);
            long sequence = frame.buffer().getLong(frame.payloadOffset() + SEQUENCE_OFFSET);
            String wrong = null;
            if (frame.type() != FrameType.NOTIFY || frame.capId() != 2 || frame.methodId() != 1) {
                wrong = "type " + frame.type() + " cap " + frame.capId() + " method " + frame.methodId();
            } else if (thread < 0 || thread >= next.length || sequence != next[thread]) {
                wrong = "thread " + thread + " sequence " + sequence + ", expected "
                        + (thread >= 0 && thread < next.length ? next[thread] : -1);
            } else if (frame.payloadLength() != payloadLength(sequence)) {
                wrong = "length " + frame.payloadLength() + " for sequence " + sequence;
            } else {
                for (int i = FILL_OFFSET; i < frame.payloadLength() && wrong == null; i++) {
                    if (frame.buffer().getByte(frame.payloadOffset() + i) != (byte) (thread * 31 + sequence + i)) {
                        wrong = "byte " + i + " of thread " + thread + " sequence " + sequence;
                    }
                }
            }
            if (wrong != null) {
                problem.compareAndSet(null, wrong);
                return;
            }
            next[thread]++;
            received.incrementAndGet();
        }

        void awaitCount(long count, long timeoutSeconds) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
            while (received.get() < count && problem.get() == null && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertNull(problem.get());
            assertEquals(count, received.get(), "frames received");
        }
    }

    @Test
    void threeThreadsMixingBatchesAndOffersGetEveryFrameBackInTheirOrder() throws Exception {
        int threads = 3;
        long perThread = 100_000;
        Endpoint endpoint = SOCKETS.endpoint("mixed");
        PerThreadOrder order = new PerThreadOrder(threads);
        try (ChildJvm child = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults())) {
            Connection connection = transport.connect(endpoint, order);
            AtomicReferenceArray<Throwable> failures = new AtomicReferenceArray<>(threads);
            List<Thread> senders = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                senders.add(new Thread(() -> {
                    try {
                        send(connection, thread, perThread);
                    } catch (Throwable e) {
                        failures.set(thread, e);
                    }
                }, "sender-" + t));
            }
            senders.forEach(Thread::start);
            for (Thread sender : senders) {
                sender.join(TimeUnit.MINUTES.toMillis(2));
            }
            for (int t = 0; t < threads; t++) {
                assertNull(failures.get(t), "sender " + t);
            }
            order.awaitCount(threads * perThread, 120);
            connection.close();
        }
    }

    /** Batches of varying size, written in place; every tenth batch is followed by one offerNotify. */
    private static void send(Connection connection, int thread, long count) {
        NotifyBatch batch = connection.notifyBatch();
        UnsafeBuffer single = new UnsafeBuffer(new byte[FILL_OFFSET + 200]);
        long sequence = 0;
        int batches = 0;
        while (sequence < count) {
            int bytes = Math.min(batch.maxBytes(), 256 + (batches * 977) % batch.maxBytes());
            while (!batch.begin(bytes)) {
                Thread.yield();
            }
            int at;
            while (sequence < count && (at = batch.claim(2, 1, payloadLength(sequence))) >= 0) {
                writePayload(batch.buffer(), at, thread, sequence++);
            }
            batch.commit();
            if (++batches % 10 == 0 && sequence < count) {
                writePayload(single, 0, thread, sequence);
                while (!connection.offerNotify(2, 1, single, 0, payloadLength(sequence))) {
                    Thread.yield();
                }
                sequence++;
            }
        }
    }

    @Test
    void anAbortedBatchSendsNothingAndTheNextOneGoesOut() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("abort");
        PerThreadOrder order = new PerThreadOrder(1);
        try (ChildJvm child = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults())) {
            Connection connection = transport.connect(endpoint, order);
            NotifyBatch batch = connection.notifyBatch();
            assertTrue(batch.begin(4096));
            writePayload(batch.buffer(), batch.claim(2, 1, payloadLength(99)), 0, 99); // out of order if sent
            batch.abort();
            assertFalse(batch.isOpen());
            assertTrue(batch.begin(4096));
            assertTrue(batch.add(2, 1, payloadOf(0, 0), 0, payloadLength(0)));
            assertEquals(1, batch.frames());
            batch.commit();
            order.awaitCount(1, 30);
            Thread.sleep(200); // the aborted frame, were it sent, would have come back by now
            assertNull(order.problem.get());
            assertEquals(1, order.received.get());
            connection.close();
        }
    }

    private static UnsafeBuffer payloadOf(int thread, long sequence) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[payloadLength(sequence)]);
        writePayload(payload, 0, thread, sequence);
        return payload;
    }

    @Test
    void misuseIsRefusedAndAClosedConnectionTakesNoBatch() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("misuse");
        try (ChildJvm child = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults())) {
            Connection connection = transport.connect(endpoint, (c, frame) -> { });
            NotifyBatch batch = connection.notifyBatch();
            assertThrows(IllegalStateException.class, () -> batch.claim(2, 1, 8));
            assertThrows(IllegalStateException.class, batch::commit);
            assertThrows(IllegalArgumentException.class, () -> batch.begin(batch.maxBytes() + 1));
            assertTrue(batch.begin(FrameHeader.HEADER_LENGTH + 8));
            assertThrows(IllegalStateException.class, () -> batch.begin(64));
            assertEquals(-1, batch.claim(2, 1, 9), "a frame larger than the claim does not fit");
            assertTrue(batch.claim(2, 1, 8) >= 0);
            assertEquals(-1, batch.claim(2, 1, 0), "the claim is used up");
            batch.commit();
            connection.close();
            connection.closeFuture().get(10, TimeUnit.SECONDS);
            assertFalse(batch.begin(64), "a closed connection takes no batch");
        }
    }

    @Test
    void aBatchBegunOnTheLoopThreadGoesOutThroughStaging() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("onloop");
        int perTrigger = 50;
        int triggers = 20;
        AtomicLong echoed = new AtomicLong();
        AtomicReference<String> problem = new AtomicReference<>();
        try (ChildJvm child = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults())) {
            FrameListener listener = new FrameListener() {
                private NotifyBatch batch;
                private long sequence;

                @Override
                public void onFrame(Connection connection, InboundFrame frame) {
                    if (frame.methodId() == 1) { // a trigger's echo: answer it with a batch, from the loop
                        if (batch == null) {
                            batch = connection.notifyBatch();
                        }
                        if (!batch.begin(batch.maxBytes())) {
                            problem.compareAndSet(null, "the loop's batch was refused");
                            return;
                        }
                        for (int i = 0; i < perTrigger; i++) {
                            int at = batch.claim(2, 3, 8);
                            batch.buffer().putLong(at, sequence++);
                        }
                        batch.commit();
                    } else if (frame.buffer().getLong(frame.payloadOffset()) != echoed.getAndIncrement()) {
                        problem.compareAndSet(null, "frame " + (echoed.get() - 1) + " out of order");
                    }
                }
            };
            Connection connection = transport.connect(endpoint, listener);
            UnsafeBuffer trigger = new UnsafeBuffer(new byte[8]);
            for (int i = 0; i < triggers; i++) {
                connection.sendNotify(2, 1, trigger, 0, 8, 10_000);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (echoed.get() < (long) perTrigger * triggers && problem.get() == null
                    && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertNull(problem.get());
            assertEquals((long) perTrigger * triggers, echoed.get());
            connection.close();
        }
    }

    @Test
    void beginWaitsForRoomUntilItsTimeoutAndGetsItOnceTheRingDrains() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("wait");
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        try (ChildJvm child = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults())) {
            // The first echo holds our only loop thread, so nothing drains the ring until the test lets go.
            Connection connection = transport.connect(endpoint, (c, frame) -> {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            NotifyBatch batch = connection.notifyBatch();
            UnsafeBuffer payload = new UnsafeBuffer(new byte[64]);
            int batches = 0;
            long waited = 0;
            for (; batches < 10_000; batches++) {
                long start = System.nanoTime();
                if (!batch.begin(batch.maxBytes(), 200)) {
                    waited = System.nanoTime() - start;
                    break;
                }
                while (batch.add(2, 1, payload, 0, payload.capacity())) {
                    // fill it
                }
                batch.commit();
            }
            assertTrue(batches < 10_000, "the ring never filled");
            assertTrue(waited >= TimeUnit.MILLISECONDS.toNanos(150), "gave up after " + waited + " ns");
            assertFalse(batch.isOpen());
            release.countDown();
            assertTrue(batch.begin(batch.maxBytes(), 10_000), "room once the loop drains the ring again");
            batch.abort();
            connection.close();
        }
    }
}
