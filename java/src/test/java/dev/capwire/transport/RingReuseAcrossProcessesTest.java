package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.wire.FrameType;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Outbound rings go back to their loop's pool when a connection closes and serve its next connections
 * ({@link RingPool}). The echo server in a child JVM sends every NOTIFY back on the connection it came on, and each
 * frame carries the tag of the connection it was sent on: a frame of a closed connection that reached the ring's
 * next connection would come back tagged with the wrong connection.
 */
class RingReuseAcrossProcessesTest {
    private static final int PAYLOAD = 64;

    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cwring");

    private ChildJvm server;
    private Endpoint endpoint;
    private Transport transport;
    private EventLoop loop;
    /** The first frame that came back on a connection it was not sent on. */
    private final AtomicReference<String> misdelivered = new AtomicReference<>();

    @BeforeEach
    void start() throws Exception {
        endpoint = SOCKETS.endpoint("echo");
        server = ChildJvm.start(EchoServerMain.class, endpoint.toString());
        server.expect("READY", 30);
        // One loop, so every connection takes its ring from the same pool.
        transport = Transport.create(TransportOptions.builder().eventLoops(1).ringBytes(16 * 1024).build());
        loop = transport.nextLoop();
    }

    @AfterEach
    void stop() {
        transport.close();
        server.close();
    }

    /** A connection whose listener checks that every echo carries {@code tag}, and counts them. */
    private Connection connect(long tag, AtomicLong echoes) throws Exception {
        return transport.connect(endpoint, (connection, frame) -> {
            if (frame.type() == FrameType.NOTIFY) {
                long sentOn = frame.buffer().getLong(frame.payloadOffset());
                if (sentOn != tag) {
                    misdelivered.compareAndSet(null, "connection " + tag + " got back a frame sent on connection "
                            + sentOn);
                }
                echoes.incrementAndGet();
            }
        });
    }

    private static UnsafeBuffer tagged(long tag) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[PAYLOAD]);
        payload.putLong(0, tag);
        return payload;
    }

    private static void await(String what, java.util.function.BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(1);
        }
    }

    private void sendAndAwaitEchoes(Connection connection, long tag, AtomicLong echoes, int frames) throws Exception {
        long before = echoes.get();
        for (int i = 0; i < frames; i++) {
            connection.sendNotify(1, 1, tagged(tag), 0, PAYLOAD, 5_000);
        }
        await(frames + " echoes on connection " + tag, () -> echoes.get() >= before + frames);
    }

    private void closeAndAwaitSettled(Connection connection, int keptBefore) throws Exception {
        connection.close();
        connection.closeFuture().get(10, TimeUnit.SECONDS);
        await("the closed connection's ring is back in the pool", () -> loop.rings().kept() > keptBefore);
    }

    /** Rule 1: a sender still holding a closed connection's ring cannot publish on the ring's next connection. */
    @Test
    void aSenderThatOutlivesItsConnectionCannotWriteIntoTheRingsNextConnection() throws Exception {
        AtomicLong echoesA = new AtomicLong();
        Connection a = connect(1, echoesA);
        sendAndAwaitEchoes(a, 1, echoesA, 10); // from this thread: a takes a ring
        OutboundRing stale = a.outboundRing();
        closeAndAwaitSettled(a, 0);

        AtomicLong echoesB = new AtomicLong();
        Connection b = connect(2, echoesB);
        long reusedBefore = loop.rings().reused();
        sendAndAwaitEchoes(b, 2, echoesB, 10);
        assertEquals(reusedBefore + 1, loop.rings().reused(), "b got a's ring");

        // a's sender, past every check of the closed state, claims in the ring that is b's now.
        UnsafeBuffer fromA = tagged(1);
        for (int i = 0; i < 100; i++) {
            assertFalse(stale.offer(FrameType.NOTIFY, 0, 1, 1, 0, fromA, 0, PAYLOAD, null, 0),
                    "a claim in a ring that changed hands is aborted");
            assertEquals(-1, stale.claimBatch(PAYLOAD + 24), "a batch claim too");
        }
        sendAndAwaitEchoes(b, 2, echoesB, 10); // b's own frames still pass the padding the aborts left
        assertNull(misdelivered.get());
        assertEquals(20, echoesB.get());
    }

    /** Rule 2: a ring with a batch claimed before the close waits for that batch before it serves anyone else. */
    @Test
    void aBatchHeldOpenAcrossTheCloseKeepsItsRingFromTheNextConnectionUntilItEnds() throws Exception {
        AtomicLong echoesA = new AtomicLong();
        Connection a = connect(1, echoesA);
        NotifyBatch batch = a.notifyBatch();
        assertTrue(batch.begin(4 * (PAYLOAD + 24)));
        for (int i = 0; i < 4; i++) {
            batch.add(1, 1, tagged(1), 0, PAYLOAD);
        }
        a.close();
        a.closeFuture().get(10, TimeUnit.SECONDS);

        AtomicLong echoesB = new AtomicLong();
        Connection b = connect(2, echoesB);
        sendAndAwaitEchoes(b, 2, echoesB, 10);
        assertEquals(0, loop.rings().reused(), "a's ring is not settled while its batch is open: b got a new one");

        batch.commit(); // after the close: the frames are dropped, and the ring can settle
        await("a's ring is settled", () -> loop.rings().kept() == 1);
        b.close();
        b.closeFuture().get(10, TimeUnit.SECONDS);

        AtomicLong echoesC = new AtomicLong();
        Connection c = connect(3, echoesC);
        sendAndAwaitEchoes(c, 3, echoesC, 10);
        assertEquals(1, loop.rings().reused(), "c got a settled ring");
        assertNull(misdelivered.get());
        assertEquals(0, echoesA.get(), "nothing of a's batch went out after its close");
    }

    /**
     * Many connections, each closed while three threads send on it as fast as they can: every echo comes back on
     * its own connection, and the rings are reused.
     */
    @Test
    void sendersRacingTheCloseOfTheirConnectionNeverReachTheNextOne() throws Exception {
        ExecutorService senders = Executors.newFixedThreadPool(3);
        try {
            AtomicLong echoes = new AtomicLong();
            for (long tag = 1; tag <= 200; tag++) {
                Connection connection = connect(tag, echoes);
                CountDownLatch started = new CountDownLatch(3);
                List<Future<?>> running = new ArrayList<>();
                long sentOn = tag;
                for (int s = 0; s < 3; s++) {
                    running.add(senders.submit(() -> {
                        UnsafeBuffer payload = tagged(sentOn);
                        NotifyBatch batch = connection.notifyBatch();
                        started.countDown();
                        for (int i = 0; connection.isOpen(); i++) {
                            if (i % 2 == 0) {
                                connection.offerNotify(1, 1, payload, 0, PAYLOAD);
                            } else if (batch.begin(2 * (PAYLOAD + 24))) {
                                batch.add(1, 1, payload, 0, PAYLOAD);
                                batch.add(1, 1, payload, 0, PAYLOAD);
                                batch.commit();
                            }
                        }
                    }));
                }
                started.await();
                LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(TimeUnit.MILLISECONDS.toNanos(2)));
                connection.close();
                for (Future<?> sender : running) {
                    sender.get(10, TimeUnit.SECONDS);
                }
            }
            assertNull(misdelivered.get());
            assertTrue(echoes.get() > 0, "frames went out");
            assertTrue(loop.rings().reused() > 50, "rings were reused: " + loop.rings().reused());
        } finally {
            senders.shutdownNow();
        }
    }
}
