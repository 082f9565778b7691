package dev.capwire.rpc;

import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.agrona.ErrorHandler;
import org.agrona.concurrent.ManyToManyConcurrentArrayQueue;

/**
 * The RPC handler threads by default (virtual threads only when asked for): up to {@code maxThreads} daemon
 * threads, each call handed to one that is free or refused, never left waiting behind a busy one.
 *
 * <p>Why not a {@code ThreadPoolExecutor}: a call handed to a pool must never wait behind a handler that
 * blocks (a handler waiting for its own callback would wait forever), so such a pool can only hand each call
 * to a thread parked in a {@code SynchronousQueue}. Then every call costs the event loop that dispatches it an
 * unpark, a system call that on a two-core host also hands the loop's core to the woken thread: measured,
 * four fifths of the loop's time at 128 calls in flight. Here a thread that finishes a call stays awake for
 * {@code parkAfterIdleMicros}, yielding, and takes the next one without any wake-up.
 *
 * <p>The rule that keeps a call from waiting behind a blocked handler: a call is queued only against a
 * <em>permit</em>, one per thread that is not running a handler, so there are never more queued calls than
 * free threads, and the queue has room for twice as many. A free thread is either
 * awake (polling the queue) or parked; a call queued when none is awake wakes a parked one, and a thread
 * that takes a call while others remain queued and nobody else is awake wakes the next, before it runs its
 * own handler, which may block. With no permit left, a new thread starts with the call, up to
 * {@code maxThreads}; past them the call is refused ({@link RejectedExecutionException}).
 *
 * <p>At most one free thread stays awake at a time, so free threads never take turns at the cores the loops
 * need; the others park at once, and end after {@code keepAlive} parked.
 */
final class HandlerPool implements Executor {
    /** More than any host runs; it keeps the queue, sized by it, from overflowing an int. */
    static final int MAX_THREADS = 1 << 16;

    private final int maxThreads;
    private final long awakeNanos;
    private final long keepAliveNanos;
    private final String namePrefix;
    private final ErrorHandler errors;
    private final ManyToManyConcurrentArrayQueue<Runnable> queued;
    /** Free threads not yet promised to a queued call. */
    private final AtomicInteger permits = new AtomicInteger();
    private final AtomicInteger threads = new AtomicInteger();
    /** Free threads polling the queue (0 or 1 but for moments). */
    private final AtomicInteger awake = new AtomicInteger();
    /** Free threads parked, the last to park first, so the threads that work are the ones warm in cache. */
    private final ConcurrentLinkedDeque<Worker> parked = new ConcurrentLinkedDeque<>();
    /** Parked threads woken that have not yet resumed: each will poll the queue when it does. */
    private final AtomicInteger waking = new AtomicInteger();
    private final AtomicInteger started = new AtomicInteger();

    HandlerPool(int maxThreads, long awakeMicros, long keepAlive, TimeUnit unit, String namePrefix,
            ErrorHandler errors) {
        if (maxThreads < 1) {
            throw new IllegalArgumentException("maxThreads must be positive: " + maxThreads);
        }
        this.maxThreads = Math.min(maxThreads, MAX_THREADS);
        this.awakeNanos = TimeUnit.MICROSECONDS.toNanos(Math.max(0, awakeMicros));
        this.keepAliveNanos = unit.toNanos(keepAlive);
        this.namePrefix = namePrefix;
        this.errors = errors;
        this.queued = new ManyToManyConcurrentArrayQueue<>(2 * this.maxThreads);
    }

    @Override
    public void execute(Runnable call) {
        if (takePermit()) {
            while (!queued.offer(call)) {
                // Not full (no more queued calls than permits, and twice that room) but a thread that took the
                // call at this slot a lap ago is between claiming it and giving it back: a moment.
                Thread.onSpinWait();
            }
            // The offer publishes the call with a release store, which the loads of who is awake or parked may pass
            // (in the JIT's code or in this core's store buffer): a free thread that stopped being awake or marked
            // itself parked, and then polled, could miss the call while this misses the thread, and the call would
            // wait out the thread's keepAlive. The thread's side is ordered already: its mark is an atomic update.
            VarHandle.fullFence();
            wakeOneIfNobodyComing();
            return;
        }
        if (threads.incrementAndGet() <= maxThreads) {
            startThread(call);
            return;
        }
        threads.decrementAndGet();
        throw new RejectedExecutionException("all " + maxThreads + " handler threads are busy");
    }

    /** Threads started and not yet ended. */
    int threads() {
        return threads.get();
    }

    /** Threads free and parked now. */
    int parkedThreads() {
        return parked.size();
    }

    private boolean takePermit() {
        for (int n = permits.get(); n > 0; n = permits.get()) {
            if (permits.compareAndSet(n, n - 1)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Called after a call was queued, or taken with more behind it: wakes a parked thread unless one is awake or
     * already being woken, either of which polls the queue after this point.
     */
    private void wakeOneIfNobodyComing() {
        if (awake.get() != 0 || waking.get() != 0) {
            return;
        }
        Worker worker = parked.pollFirst();
        if (worker != null) {
            waking.incrementAndGet();
            worker.woken = true;
            LockSupport.unpark(worker.thread);
        }
    }

    private void startThread(Runnable first) {
        Worker worker = new Worker();
        Thread thread = new Thread(() -> worker.work(first), namePrefix + started.incrementAndGet());
        worker.thread = thread;
        thread.setDaemon(true);
        try {
            thread.start();
        } catch (Throwable e) { // out of native threads, say: refused like a full pool
            threads.decrementAndGet();
            throw new RejectedExecutionException("could not start a handler thread", e);
        }
    }

    /**
     * A thread took {@code call} from the queue: when more are queued and nobody is coming for them, it wakes a
     * parked thread before it runs its own handler, which may block for as long as it likes.
     */
    private Runnable took(Runnable call) {
        if (call != null && !queued.isEmpty()) {
            wakeOneIfNobodyComing();
        }
        return call;
    }

    /** Polls the queue, yielding, for up to {@code awakeNanos}, as the one awake thread. */
    private Runnable pollAwake() {
        awake.incrementAndGet();
        long until = System.nanoTime() + awakeNanos;
        Runnable call;
        do {
            call = queued.poll();
            if (call != null) {
                awake.decrementAndGet();
                return took(call);
            }
            Thread.yield();
        } while (System.nanoTime() - until < 0);
        awake.decrementAndGet();
        return took(queued.poll()); // queued while it stopped being awake, by a caller who still saw it
    }

    private final class Worker {
        Thread thread;
        /** Set by the thread that took this worker off {@link #parked} to wake it. */
        volatile boolean woken;

        void work(Runnable first) {
            Runnable call = first;
            try {
                while (call != null) {
                    runGuarded(call);
                    permits.incrementAndGet(); // free again: a call may be queued for it from here on
                    call = nextCall();
                }
            } finally {
                threads.decrementAndGet();
            }
        }

        /**
         * A handler's failure is its call's to answer, and the RPC layer does; whatever still escapes is
         * reported and must not end the thread. An interrupt meant for one call must not reach the next one
         * either (nor turn this thread's parking into spinning).
         */
        private void runGuarded(Runnable call) {
            try {
                call.run();
            } catch (Throwable e) {
                errors.onError(e);
            } finally {
                Thread.interrupted();
            }
        }

        /** Waits for a queued call as a free thread; null when it ends, its permit given back, after keepAlive. */
        private Runnable nextCall() {
            while (true) {
                Runnable call = awake.get() == 0 ? pollAwake() : null;
                if (call != null) {
                    return call;
                }
                parked.addFirst(this);
                call = queued.poll(); // queued while it was not yet on the list, by a caller who saw nobody awake
                if (call != null) {
                    if (!parked.removeFirstOccurrence(this)) {
                        awaitWake(); // someone took it off the list to wake it: that wake-up is spent here
                    }
                    return took(call);
                }
                if (!parkUntilWoken() && takePermit()) {
                    return null; // nobody woke it and no queued call counts on it: it ends
                }
                // Woken, or a queued call holds its permit: back to the queue.
            }
        }

        /** Parks until woken or keepAlive; false when it timed out and left the list itself. */
        private boolean parkUntilWoken() {
            long until = System.nanoTime() + keepAliveNanos;
            while (!woken) {
                long left = until - System.nanoTime();
                if (left <= 0) {
                    if (parked.removeFirstOccurrence(this)) {
                        return false;
                    }
                    awaitWake(); // taken off the list just now: its waker is about to say so
                    return true;
                }
                LockSupport.parkNanos(HandlerPool.this, left);
                Thread.interrupted(); // nobody should interrupt a free thread, but if they do it must not spin
            }
            woken = false;
            waking.decrementAndGet();
            return true;
        }

        /** Its waker took it off the list and will set {@link #woken} within moments. */
        private void awaitWake() {
            while (!woken) {
                Thread.onSpinWait();
            }
            woken = false;
            waking.decrementAndGet();
        }
    }
}
