package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link HandlerPool}: every call runs exactly once, on a thread free to run it; a call never waits behind a
 * handler that blocks; past {@code maxThreads} busy threads a call is refused; free threads stop being awake,
 * then end; a handler's failure or interrupt does not reach the next call.
 */
class HandlerPoolTest {
    private static final long WAIT_S = 20;
    private static final AtomicInteger POOLS = new AtomicInteger();
    private final List<Throwable> reported = new CopyOnWriteArrayList<>();
    private final List<CountDownLatch> toRelease = new ArrayList<>();
    private String namePrefix; // of the test's pool's threads

    @AfterEach
    void releaseBlockedHandlers() {
        toRelease.forEach(CountDownLatch::countDown);
    }

    private HandlerPool pool(int maxThreads, long awakeMicros, long keepAliveMs) {
        namePrefix = "pool-test-" + POOLS.incrementAndGet() + "-";
        return new HandlerPool(maxThreads, awakeMicros, keepAliveMs, TimeUnit.MILLISECONDS, namePrefix,
                reported::add);
    }

    @Test
    void manySubmittersEachCallRunsExactlyOnce() throws Exception {
        HandlerPool pool = pool(8, 200, 60_000);
        int submitters = 4;
        int perSubmitter = 20_000;
        AtomicLong ran = new AtomicLong();
        ConcurrentHashMap<Integer, Boolean> seen = new ConcurrentHashMap<>();
        AtomicLong refused = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        for (int s = 0; s < submitters; s++) {
            int base = s * perSubmitter;
            Thread submitter = new Thread(() -> {
                for (int i = 0; i < perSubmitter; i++) {
                    int id = base + i;
                    Runnable call = () -> {
                        assertSame(null, seen.put(id, Boolean.TRUE), "call " + id + " ran twice");
                        ran.incrementAndGet();
                    };
                    while (true) {
                        try {
                            pool.execute(call);
                            break;
                        } catch (RejectedExecutionException busy) {
                            refused.incrementAndGet();
                            Thread.yield();
                        }
                    }
                }
            });
            threads.add(submitter);
            submitter.start();
        }
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(WAIT_S));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (ran.get() < (long) submitters * perSubmitter && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertEquals((long) submitters * perSubmitter, ran.get(), "every accepted call ran (refused and retried "
                + refused.get() + " times)");
        assertEquals(submitters * perSubmitter, seen.size());
        assertTrue(pool.threads() <= 8, pool.threads() + " threads");
        assertEquals(List.of(), reported);
    }

    /**
     * The case the pool exists for: a call queued while the one awake thread takes another, which then blocks
     * until the queued call has run. The awake thread must wake a parked one for it before its handler blocks.
     */
    @Test
    void aQueuedCallNeverWaitsBehindAHandlerThatBlocks() throws Exception {
        HandlerPool pool = pool(4, 1_000, 60_000);
        warmUp(pool, 4);
        for (int round = 0; round < 2_000; round++) {
            CountDownLatch secondRan = new CountDownLatch(1);
            CountDownLatch firstDone = new CountDownLatch(1);
            submit(pool, () -> {
                await(secondRan); // blocks its thread until the next call ran elsewhere
                firstDone.countDown();
            });
            submit(pool, secondRan::countDown);
            assertTrue(firstDone.await(WAIT_S, TimeUnit.SECONDS), "round " + round + ": the second call waited "
                    + "behind the first, which waits for it");
        }
        assertEquals(List.of(), reported);
    }

    /**
     * A call queued just as the one free thread goes to park must wake it, not wait out its keepAlive. The submitter
     * publishes the call and then looks for a thread awake or parked; the thread marks itself parked and then looks
     * at the queue. Without a full fence after the submitter's publish (a release store, which a later load may
     * pass), both can look too early and miss each other. Probabilistic: before the fix a call stuck (parked thread,
     * queued call) within the first seconds in 5 of 5 runs, after it none in 3 runs; each round spins a random
     * moment first so that some submissions meet the thread at the moment it parks.
     */
    @Test
    void aCallQueuedAsTheFreeThreadParksWakesIt() throws Exception {
        HandlerPool pool = pool(1, 0, 60_000);
        AtomicLong ran = new AtomicLong();
        Runnable call = ran::incrementAndGet;
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (long round = 1; System.nanoTime() < end; round++) {
            for (int spin = ThreadLocalRandom.current().nextInt(200); spin > 0; spin--) {
                Thread.onSpinWait();
            }
            submit(pool, call);
            long stuckAfter = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            while (ran.get() < round) {
                if (System.nanoTime() > stuckAfter) {
                    throw new AssertionError("round " + round + ": the call waits in the queue while "
                            + pool.parkedThreads() + " thread is parked");
                }
                Thread.onSpinWait();
            }
        }
        assertEquals(List.of(), reported);
    }

    /** Each call waits for the next one, as a callback chain A to B to A does: as deep as there are threads. */
    @Test
    void aChainAsDeepAsTheThreadsCompletes() throws Exception {
        int depth = 16;
        HandlerPool pool = pool(depth, 1_000, 60_000);
        for (int round = 0; round < 50; round++) {
            CountDownLatch bottom = new CountDownLatch(1);
            submit(pool, chainLink(pool, depth - 1, bottom));
            assertTrue(bottom.await(WAIT_S, TimeUnit.SECONDS), "round " + round + ": the chain stalled");
        }
        assertTrue(pool.threads() <= depth);
        assertEquals(List.of(), reported);
    }

    private static Runnable chainLink(HandlerPool pool, int below, CountDownLatch bottom) {
        return () -> {
            if (below == 0) {
                bottom.countDown();
                return;
            }
            CountDownLatch next = new CountDownLatch(1);
            submit(pool, () -> {
                chainLink(pool, below - 1, bottom).run();
                next.countDown();
            });
            await(next);
        };
    }

    @Test
    void refusesWhenEveryThreadIsBusyAndServesAgainOnceOneIsFree() throws Exception {
        HandlerPool pool = pool(3, 1_000, 60_000);
        CountDownLatch release = new CountDownLatch(1);
        toRelease.add(release);
        CountDownLatch running = new CountDownLatch(3);
        for (int i = 0; i < 3; i++) {
            pool.execute(() -> {
                running.countDown();
                await(release);
            });
        }
        assertTrue(running.await(WAIT_S, TimeUnit.SECONDS));
        RejectedExecutionException refused = assertThrows(RejectedExecutionException.class,
                () -> pool.execute(() -> { }));
        assertTrue(refused.getMessage().contains("all 3 handler threads are busy"), refused.getMessage());
        release.countDown();
        CountDownLatch ran = new CountDownLatch(1);
        submit(pool, ran::countDown);
        assertTrue(ran.await(WAIT_S, TimeUnit.SECONDS));
        assertEquals(3, pool.threads());
    }

    @Test
    void freeThreadsStopBeingAwakeThenEnd() throws Exception {
        HandlerPool pool = pool(4, 1_000, 200);
        warmUp(pool, 4);
        Thread.sleep(50); // far past the 1 ms a free thread stays awake
        for (Thread thread : poolThreads()) {
            Thread.State state = thread.getState();
            assertTrue(state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING,
                    thread.getName() + " is " + state + " with nothing to do");
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (pool.threads() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, pool.threads(), "free threads end after keepAlive");
        assertEquals(0, pool.parkedThreads());
        CountDownLatch ran = new CountDownLatch(1);
        pool.execute(ran::countDown);
        assertTrue(ran.await(WAIT_S, TimeUnit.SECONDS), "a call after every thread ended starts a new one");
    }

    @Test
    void aHandlersFailureIsReportedAndItsInterruptDoesNotReachTheNextCall() throws Exception {
        HandlerPool pool = pool(1, 1_000, 60_000);
        CountDownLatch failed = new CountDownLatch(1);
        pool.execute(() -> {
            failed.countDown();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("handler bug");
        });
        assertTrue(failed.await(WAIT_S, TimeUnit.SECONDS));
        AtomicInteger interruptedAfter = new AtomicInteger(-1);
        CountDownLatch next = new CountDownLatch(1);
        submit(pool, () -> { // the one thread may still be reporting: refused until it is free
            interruptedAfter.set(Thread.currentThread().isInterrupted() ? 1 : 0);
            next.countDown();
        });
        assertTrue(next.await(WAIT_S, TimeUnit.SECONDS));
        assertEquals(0, interruptedAfter.get(), "the next call saw the previous call's interrupt");
        assertEquals(1, pool.threads(), "the failure did not end the thread");
        assertEquals(1, reported.size());
        assertEquals("handler bug", reported.get(0).getMessage());
    }

    @Test
    void rejectsANonPositiveSizeAndCapsAHugeOne() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> pool(0, 0, 1));
        HandlerPool huge = pool(Integer.MAX_VALUE, 0, 60_000); // its queue is sized from it: no int overflow
        CountDownLatch ran = new CountDownLatch(1);
        huge.execute(ran::countDown);
        assertTrue(ran.await(WAIT_S, TimeUnit.SECONDS));
    }

    @Test
    void aFreeThreadInterruptedWhileParkedParksAgain() throws Exception {
        HandlerPool pool = pool(1, 0, 60_000);
        warmUp(pool, 1);
        Thread thread = poolThreads().get(0);
        awaitParked(thread);
        thread.interrupt();
        Thread.sleep(20);
        awaitParked(thread); // not spinning in parkNanos with its interrupt flag set
        CountDownLatch ran = new CountDownLatch(1);
        submit(pool, ran::countDown);
        assertTrue(ran.await(WAIT_S, TimeUnit.SECONDS));
    }

    private static void awaitParked(Thread thread) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (thread.getState() != Thread.State.TIMED_WAITING) {
            assertTrue(System.nanoTime() < deadline, thread.getName() + " is " + thread.getState());
            Thread.sleep(1);
        }
        for (int i = 0; i < 20; i++) { // and stays so: a thread spinning through parkNanos would show RUNNABLE
            Thread.sleep(1);
            assertEquals(Thread.State.TIMED_WAITING, thread.getState(), thread.getName());
        }
    }

    /** Starts {@code n} threads at once (each call holds its thread until all have started), then frees them. */
    private static void warmUp(HandlerPool pool, int n) throws InterruptedException {
        CountDownLatch all = new CountDownLatch(n);
        CountDownLatch done = new CountDownLatch(n);
        for (int i = 0; i < n; i++) {
            pool.execute(() -> {
                all.countDown();
                await(all);
                done.countDown();
            });
        }
        assertTrue(done.await(WAIT_S, TimeUnit.SECONDS));
        assertEquals(n, pool.threads());
    }

    /**
     * Submits as a caller that retries when refused would: a thread that just finished its handler is free a
     * moment after the latch its handler counted down.
     */
    private static void submit(HandlerPool pool, Runnable call) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (true) {
            try {
                pool.execute(call);
                return;
            } catch (RejectedExecutionException busy) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("no thread came free in " + WAIT_S + " s", busy);
                }
                Thread.yield();
            }
        }
    }

    private List<Thread> poolThreads() {
        List<Thread> found = new ArrayList<>();
        for (Thread thread : Thread.getAllStackTraces().keySet()) {
            if (thread.getName().startsWith(namePrefix) && thread.isAlive()) {
                found.add(thread);
            }
        }
        assertFalse(found.isEmpty());
        return found;
    }

    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(WAIT_S, TimeUnit.SECONDS)) {
                throw new AssertionError("waited " + WAIT_S + " s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
