package dev.capwire.transport;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import org.agrona.concurrent.IdleStrategy;

/**
 * The lock that makes code "loop work": whoever holds it may touch the loop's connections, timers and
 * buffers, and nobody else may. It is held by the loop's thread during a duty cycle, by a caller that found the
 * loop idle and runs its task itself, or for good by the creating thread of an invoker-mode loop. Taking it is
 * one CAS and giving it back one release store, which also orders everything the holder did before the next
 * holder's CAS (as Aeron's client conductor lock does for callers doing the conductor's work).
 *
 * <p>It is not re-entrant on purpose, and it guards against the one re-entrance that would hang: a holder
 * that blocks waiting for something only loop work can produce (a reply, a close) would wait for itself.
 * {@link #ensureMayBlock} fails such a call at once, naming the rule, instead of letting it wait out its
 * deadline while every connection on the loop stalls.
 */
final class LoopOwnership {
    private static final VarHandle OWNER;

    static {
        try {
            OWNER = MethodHandles.lookup().findVarHandle(LoopOwnership.class, "owner", Thread.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String loopName;
    @SuppressWarnings("unused") // accessed through OWNER
    private volatile Thread owner;

    LoopOwnership(String loopName) {
        this.loopName = loopName;
    }

    boolean tryAcquire() {
        return OWNER.compareAndSet(this, null, Thread.currentThread());
    }

    /** For the loop's own thread, which takes its loop back from a caller running a (short) task on it. */
    void acquire(IdleStrategy idle) {
        while (!tryAcquire()) {
            idle.idle();
        }
    }

    /** The release store hands everything this thread did to the next holder (whose CAS reads it). */
    void release() {
        OWNER.setRelease(this, null);
    }

    boolean isHeldByCurrentThread() {
        return owner == Thread.currentThread();
    }

    /**
     * Fails at once when the calling thread is doing loop work: {@code call} would wait for the loop it is
     * holding up.
     */
    void ensureMayBlock(Object call) {
        if (isHeldByCurrentThread()) {
            throw new IllegalStateException(call + " blocks, and it was called as event-loop work on " + loopName
                    + " (a listener, a future's callback, or a task the loop runs): loop work must never wait, "
                    + "since the loop it holds up is what would complete the wait. Use the asynchronous form, or "
                    + "run the blocking code on another thread.");
        }
    }
}
