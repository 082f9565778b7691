package dev.capwire.transport;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.agrona.BufferUtil;
import org.agrona.concurrent.ManyToManyConcurrentArrayQueue;
import org.agrona.concurrent.MessageHandler;
import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.ringbuffer.ManyToOneRingBuffer;
import org.agrona.concurrent.ringbuffer.RingBufferDescriptor;

/**
 * The outbound rings of one loop's connections, kept for the next connections once theirs close. A fresh ring is
 * direct memory the process has not touched: a connection's first send from an application thread paid for its
 * zeroing and page faults (a 256 KiB ring: 26 µs at the median, 1.1 ms at p90 and 8.9 ms at p99 with a 1 GiB
 * direct-memory limit, in a loop on this project's 2-core hosts), and the memory stayed pinned until a GC.
 *
 * <p>Unlike staging buffers ({@link BufferPool}), a ring is written by application threads, and one of them may
 * hold a connection's ring when that connection closes (it read the field just before). Two rules keep such a
 * stale sender from ever publishing a frame on the ring's next connection:
 * <ol>
 * <li>A sender checks after every successful claim that the ring still belongs to its connection
 *     ({@link Lease#owner}, which changes before the ring changes hands); a claim that finds another owner is
 *     aborted, and Agrona turns it into padding that the new owner's loop steps over.
 * <li>A retired ring goes back to the pool only once every record claimed before its owner was cleared has been
 *     committed or aborted: the loop drains it (dropping the frames) until its consumer position reaches its
 *     producer position. A claim that passed rule 1 is then finished, and every later claim fails rule 1. A ring
 *     that does not settle within {@link #SETTLE_ATTEMPTS} checks (a batch claimed and never committed) is left to
 *     the GC.
 * </ol>
 * Rule 1 costs a sender one volatile read per claim. The loop that drained a ring is the only consumer it ever
 * has: the pool is per loop, and so are the connections that take from it.
 */
final class RingPool {
    /** Rings kept per loop beyond those in use: a burst of connections does not pin its memory for good. */
    static final int KEPT = 4;
    /** Checks of a retired ring that has not settled, 1 ms apart at first, then growing to 100 ms: about 4 s. */
    static final int SETTLE_ATTEMPTS = 50;
    private static final long FIRST_SETTLE_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long MAX_SETTLE_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    /** A ring and the connection it belongs to now (null between owners). */
    static final class Lease {
        final ManyToOneRingBuffer ring;
        volatile Object owner;

        Lease(ManyToOneRingBuffer ring) {
            this.ring = ring;
        }
    }

    private final int ringBytes;
    private final Timers timers;
    private final NanoClock clock;
    private final ManyToManyConcurrentArrayQueue<Lease> free = new ManyToManyConcurrentArrayQueue<>(KEPT);
    private final AtomicLong reused = new AtomicLong();

    RingPool(int ringBytes, Timers timers, NanoClock clock) {
        this.ringBytes = ringBytes;
        this.timers = timers;
        this.clock = clock;
    }

    /** Any thread: a ring for {@code owner}, a settled one when there is one. */
    Lease take(Object owner) {
        Lease lease = free.poll();
        if (lease != null) {
            reused.incrementAndGet();
        } else {
            lease = new Lease(new ManyToOneRingBuffer(new UnsafeBuffer(
                    BufferUtil.allocateDirectAligned(ringBytes + RingBufferDescriptor.TRAILER_LENGTH, 64))));
        }
        lease.owner = owner;
        return lease;
    }

    /** Any thread: a ring taken and never claimed in (its taker lost the race to install it). */
    void giveBackUnused(Lease lease) {
        lease.owner = null;
        free.offer(lease); // when full, left to the GC
    }

    /**
     * Loop: the owner's connection closed. Claims from now on abort themselves (rule 1); the ring returns to the
     * pool once it has settled (rule 2), its remaining frames handed to {@code discard} on the way.
     */
    void retire(Lease lease, MessageHandler discard) {
        lease.owner = null;
        settle(lease, discard, 0);
    }

    private void settle(Lease lease, MessageHandler discard, int attempt) {
        lease.ring.read(discard, Integer.MAX_VALUE);
        if (lease.ring.consumerPosition() == lease.ring.producerPosition()) {
            free.offer(lease); // when full, left to the GC
        } else if (attempt < SETTLE_ATTEMPTS) {
            long interval = Math.min(MAX_SETTLE_INTERVAL_NANOS, FIRST_SETTLE_INTERVAL_NANOS << Math.min(attempt, 7));
            timers.schedule(clock.nanoTime() + interval, timerId -> settle(lease, discard, attempt + 1));
        }
    }

    /** Settled rings waiting for a connection (for tests and diagnostics). */
    int kept() {
        return free.size();
    }

    /** Rings handed out again after a close (for tests and diagnostics). */
    long reused() {
        return reused.get();
    }
}
