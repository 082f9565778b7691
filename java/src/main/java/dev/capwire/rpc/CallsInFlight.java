package dev.capwire.rpc;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The calls one connection has in flight to its peer, against {@code capwire.rpc.maxInFlight}: any calling thread
 * starts one ({@link #tryStart}), and whoever ends its request (mostly the loop, as it delivers answers) ends it
 * ({@link #end}).
 *
 * <p>Two counts that only grow: {@code STARTED}, written by the calling threads, and {@code ENDED}. They sit 128
 * bytes apart, so the loop's count and the callers' never share a cache line: one shared counter that both sides
 * changed per call (get and compare-and-set by the caller, decrement on the loop) moved its line between the
 * cores twice per call, and was the client loop's hottest frame in a profile of 128 calls in flight. A caller
 * reads {@code ENDED} only when its last reading ({@link #endedSeen}) says the limit is reached; a stale reading
 * only overstates what is in flight.
 */
final class CallsInFlight {
    /** Longs in 128 bytes: two cache lines, so an adjacent-line prefetch does not pair the counts either. */
    private static final int STRIDE = 16;
    private static final int STARTED = STRIDE - 1;
    private static final int ENDED = 2 * STRIDE - 1;

    private final int max;
    private final AtomicLongArray counts = new AtomicLongArray(2 * STRIDE);
    /** The last {@code ENDED} a caller read; racy by design (see the class comment). */
    private volatile long endedSeen;

    CallsInFlight(int max) {
        this.max = max;
    }

    /** Counts one more call in flight; false (and nothing counted) when {@code max} are in flight already. */
    boolean tryStart() {
        for (;;) {
            long started = counts.get(STARTED);
            if (started - endedSeen >= max) {
                long ended = counts.get(ENDED);
                endedSeen = ended;
                if (started - ended >= max) {
                    return false;
                }
            }
            if (counts.compareAndSet(STARTED, started, started + 1)) {
                return true;
            }
        }
    }

    /** A call's request is over, one way or another: exactly once per call {@link #tryStart} counted. */
    void end() {
        counts.getAndIncrement(ENDED);
    }

    int count() {
        long ended = counts.get(ENDED);
        return (int) (counts.get(STARTED) - ended);
    }
}
