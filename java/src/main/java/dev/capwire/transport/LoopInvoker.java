package dev.capwire.transport;

import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.NanoClock;

/**
 * Drives an {@link EventLoop} from the application's own thread (invoker mode, {@code eventLoops = 0}), as
 * Agrona's {@code AgentInvoker} drives an agent; {@link LoopRunner} is the other way, a thread of the loop's
 * own. The thread that created the transport owns the loop for good and runs its duty cycles: through
 * {@link Transport#poll()}, and inside any wait that would otherwise need the loop ({@link #runUntil}).
 *
 * <p>That thread is two things in turn: the application, which may block (its waits run the loop), and the
 * loop, whose callbacks (listeners, reply handlers, futures' continuations) it runs inside a duty cycle. A
 * callback that blocked, or polled, would run the very cycle it is part of again under its own feet, so the
 * invoker marks the loop work it runs ({@link #inCallbacks}), and both fail at once there, as Aeron's client
 * guards its conductor against re-entry.
 */
final class LoopInvoker {
    /**
     * The longest a waiting owner parks at a time: a Java interrupt does not end a wait in the poller, so the
     * owner looks at its interrupt flag (and the wait's deadline) at least this often.
     */
    private static final long PARK_SLICE_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

    private final EventLoop loop;
    /** The owning thread is running loop work now; a plain field, since only that thread touches it. */
    private boolean inCallbacks;

    LoopInvoker(EventLoop loop) {
        this.loop = loop;
    }

    /**
     * One duty cycle on the owning thread, marked as callbacks for its length. A cycle run by a wait inside a
     * cycle (a send waiting for room) keeps the outer mark. Once another thread closed the transport, the owner
     * stops the loop instead, as only it may.
     */
    int cycle() {
        boolean outer = inCallbacks;
        inCallbacks = true;
        try {
            if (!loop.isRunning()) {
                loop.stopOnce();
                return 0;
            }
            return loop.doWork();
        } finally {
            inCallbacks = outer;
        }
    }

    /**
     * On the owning thread outside its callbacks ({@link #drivenByCurrentThread}): runs duty cycles until
     * {@code done} completes or {@code timeoutNanos} pass. Idle, it spins for {@code parkAfterIdleMicros} as a
     * loop thread would (an answer due within microseconds costs no wake-up), then parks in the poller in
     * slices, so a long wait does not burn the owner's core (a spinning loop, {@code idleStrategy=spin}, never
     * parks). An interrupt ends it, the flag cleared as {@link InterruptedException} promises: nothing else
     * would end a wait whose thread is running the loop.
     */
    void runUntil(Future<?> done, long timeoutNanos) throws InterruptedException {
        NanoClock clock = loop.clock();
        long deadline = clock.nanoTime() + timeoutNanos;
        long idleSince = 0;
        for (long now = clock.nanoTime(); !done.isDone() && now - deadline < 0; now = clock.nanoTime()) {
            if (Thread.interrupted()) {
                throw new InterruptedException("interrupted while running " + loop.roleName() + " for a wait");
            }
            if (cycle() > 0) {
                idleSince = 0;
            } else if (!loop.parks()) {
                Thread.onSpinWait();
            } else if (idleSince == 0) {
                idleSince = now;
            } else if (now - idleSince < loop.parkAfterIdleNanos()) {
                Thread.onSpinWait();
            } else {
                long parkedAt = now;
                long slice = Math.min(PARK_SLICE_NANOS, deadline - now);
                runAsCallbacks(() -> loop.park(parkedAt, slice)); // what the wait reads goes to callbacks
            }
        }
    }

    /** Loop work the owner runs inline (a task given to {@link EventLoop#execute}): its listeners are callbacks. */
    void runAsCallbacks(Runnable task) {
        boolean outer = inCallbacks;
        inCallbacks = true;
        try {
            task.run();
        } finally {
            inCallbacks = outer;
        }
    }

    /** Whether the calling thread is the owner outside the loop's callbacks: it may, and must, run the loop to wait. */
    boolean drivenByCurrentThread() {
        return loop.inLoop() && !inCallbacks;
    }

    /** Owner only: whether it is running the loop's work now (the loop's own test, once ownership is known). */
    boolean inCallbacks() {
        return inCallbacks;
    }

    /**
     * {@link EventLoop#ensureMayBlock} in invoker mode: another thread may block (the owner's polling ends its
     * wait), the owner outside its callbacks may too and must run the loop meanwhile (true), and inside a
     * callback nothing could end the wait.
     */
    boolean ensureMayBlock(Object call) {
        if (!loop.inLoop()) {
            return false;
        }
        if (inCallbacks) {
            throw new IllegalStateException(call + " blocks, and it was called from a callback of " + loop.roleName()
                    + ", an invoker-mode loop (eventLoops = 0), while its owning thread ran the loop: the answer "
                    + "could only come from the duty cycle the callback is part of, so the wait could never end. "
                    + "Use the asynchronous form, or block after Transport.poll() returns.");
        }
        return true;
    }
}
