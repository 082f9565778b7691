package dev.capwire.transport;

import java.util.concurrent.Future;

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
     * {@code done} completes or {@code timeoutNanos} pass. An interrupt ends it, the flag cleared as
     * {@link InterruptedException} promises: nothing else would end a wait whose thread is busy running the
     * loop rather than parked.
     */
    void runUntil(Future<?> done, long timeoutNanos) throws InterruptedException {
        long deadline = loop.clock().nanoTime() + timeoutNanos;
        while (!done.isDone() && loop.clock().nanoTime() - deadline < 0) {
            if (Thread.interrupted()) {
                throw new InterruptedException("interrupted while running " + loop.roleName() + " for a wait");
            }
            if (cycle() == 0) {
                Thread.onSpinWait();
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
