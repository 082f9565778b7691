package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

/**
 * As many threads as request slots, each with at most one request in flight: a thread starts its next request
 * only once the last one's slot is back, so no request may ever be refused. Each thread cancels every other
 * request as soon as it is sent and waits for the reply to the rest, so slots come back from many threads at once
 * (the cancellers) as well as from the loop (the replies).
 *
 * <p>A slot comes back through a lock-free queue whose poll answers null while the offer at its head is half
 * done, even when offers behind it are complete; a taker at the limit read that as "every slot taken". The window
 * is a few instructions, yet a thread that loses its core inside it holds every taker up: before the fix, 10 of
 * 13 runs of these four seconds refused between 1 and 3134 requests (of about 600,000), after it none of 8 did.
 */
class RequestSlotsAtTheLimitTest {
    private static final int THREADS = 8;

    @Test
    void aWindowOfTheLimitIsNeverRefused() throws Exception {
        try (TransportPair pair = new TransportPair(TransportOptions.defaults(),
                TransportOptions.builder().maxInFlight(THREADS).build())) {
            Connection connection = pair.connect((c, frame) -> c.respond(frame.correlationId(), frame.buffer(),
                    frame.payloadOffset(), frame.payloadLength()));
            UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
            AtomicLong requests = new AtomicLong();
            List<Throwable> failures = new ArrayList<>();
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(4);
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                Thread thread = new Thread(() -> {
                    Outcome outcome = new Outcome();
                    for (long i = 0; System.nanoTime() < end; i++) {
                        try {
                            long id = connection.request(2, 1, payload, 0, payload.capacity(), 10_000, outcome);
                            requests.incrementAndGet();
                            if (i % 2 != 0 || !connection.cancelRequest(id)) {
                                outcome.await(); // its slot is back before the handler hears
                            }
                            outcome.rethrow();
                        } catch (Throwable e) {
                            synchronized (failures) {
                                failures.add(e);
                            }
                        }
                    }
                });
                threads.add(thread);
                thread.start();
            }
            for (Thread thread : threads) {
                thread.join();
            }
            assertTrue(requests.get() > 0, "no request sent");
            assertEquals(List.of(), failures.subList(0, Math.min(3, failures.size())),
                    failures.size() + " failures, " + requests + " requests");
            assertEquals(0, connection.inFlight());
        }
    }

    /** One thread's request's outcome: the thread waits for it, the loop hands it over. */
    private static final class Outcome implements ReplyHandler {
        private final Semaphore heard = new Semaphore(0);
        private volatile StatusException failure;

        @Override
        public void onReply(long correlationId, InboundFrame reply) {
            heard.release();
        }

        @Override
        public void onFailure(long correlationId, StatusException why) {
            failure = why;
            heard.release();
        }

        void rethrow() {
            StatusException why = failure;
            if (why != null) {
                failure = null;
                throw why;
            }
        }

        void await() throws InterruptedException {
            if (!heard.tryAcquire(10, TimeUnit.SECONDS)) {
                throw new AssertionError("no outcome within 10 s");
            }
        }
    }
}
