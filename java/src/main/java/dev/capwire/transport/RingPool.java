package dev.capwire.transport;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.agrona.BufferUtil;
import org.agrona.concurrent.ManyToManyConcurrentArrayQueue;
import org.agrona.concurrent.MessageHandler;
import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.ringbuffer.ManyToOneRingBuffer;
import org.agrona.concurrent.ringbuffer.RecordDescriptor;
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
 *     that does not settle within {@link #SETTLE_ATTEMPTS} checks (a batch claimed and never committed) is
 *     abandoned (below) and left to the GC.
 * </ol>
 * Rule 1 costs a sender one volatile read per claim. The loop that drained a ring is its only consumer while it
 * waits for the ring to settle: the pool is per loop, and so are the connections that take from it.
 *
 * <p>A ring the loop lets go of unsettled (the loop stopped, or the ring did not settle in time) is
 * {@linkplain Lease#abandon abandoned}: a claim still open in it may yet commit a frame with fds, and no loop
 * would ever drain them. From then on whoever finishes a claim in it (commits or aborts) drains it, one at a
 * time, so the last one to touch the ring closes the fds in it.
 */
final class RingPool {
    /** Rings kept per loop beyond those in use: a burst of connections does not pin its memory for good. */
    static final int KEPT = 4;
    /** Checks of a retired ring that has not settled, 1 ms apart at first, then growing to 100 ms: about 4 s. */
    static final int SETTLE_ATTEMPTS = 50;
    private static final long FIRST_SETTLE_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long MAX_SETTLE_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    /**
     * What a connection's ring field holds once it closed without ever having taken a ring: a sender arriving
     * after the close finds it, sends nothing, and takes no ring that nobody would retire.
     */
    static final Lease NONE_AFTER_CLOSE = new Lease(null);

    /** A ring and the connection it belongs to now (null between owners). */
    static final class Lease {
        private static final VarHandle DRAINING;

        static {
            try {
                DRAINING = MethodHandles.lookup().findVarHandle(Lease.class, "draining", int.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        final ManyToOneRingBuffer ring;
        volatile Object owner;
        /** Its loop let go of it unsettled: senders drain it from then on (see the class comment). */
        private volatile boolean abandoned;
        @SuppressWarnings("unused") // accessed through DRAINING
        private volatile int draining;
        /** What drops its frames once retired; written before {@link #abandoned}, which publishes it. */
        private MessageHandler discard;

        Lease(ManyToOneRingBuffer ring) {
            this.ring = ring;
        }

        /**
         * A sender finished a claim (committed or aborted it), after a full fence: if the loop has let go of the
         * ring meanwhile, the record may stand before, or be, one nobody else will read, so the sender drains the
         * ring itself. The fence pairs with the one in {@link #drain}: either the sender sees the flag, or the
         * loop's last drain sees the record.
         */
        void drainIfAbandoned() {
            if (abandoned) {
                drain();
            }
        }

        /** Loop: it lets go of the ring unsettled; what is readable now is dropped, and senders drop the rest. */
        void abandon() {
            abandoned = true;
            drain();
        }

        /**
         * One drainer at a time, as the ring allows one consumer. A sender that finds another draining leaves its
         * record to it: the drainer looks again once it has let go, so a record finished meanwhile is not missed.
         */
        private void drain() {
            do {
                if (!DRAINING.compareAndSet(this, 0, 1)) {
                    return;
                }
                try {
                    ring.read(discard, Integer.MAX_VALUE);
                } finally {
                    DRAINING.setVolatile(this, 0);
                }
            } while (readableAtHead());
        }

        /**
         * Whether a finished record (a frame, or the padding of an abort or of the wrap) waits where the consumer
         * is: a claim still open has a negative length there, and consumed space is zeroed.
         */
        private boolean readableAtHead() {
            int head = (int) ring.consumerPosition() & (ring.capacity() - 1);
            return ring.buffer().getIntVolatile(RecordDescriptor.lengthOffset(head)) > 0;
        }
    }

    private final int ringBytes;
    private final Timers timers;
    private final NanoClock clock;
    private final ManyToManyConcurrentArrayQueue<Lease> free = new ManyToManyConcurrentArrayQueue<>(KEPT);
    private final AtomicLong reused = new AtomicLong();
    /** Loop only: retired rings waiting to settle, abandoned if their loop stops first. */
    private final ArrayList<Lease> unsettled = new ArrayList<>();

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
        lease.discard = discard;
        lease.owner = null;
        settle(lease, 0);
    }

    private void settle(Lease lease, int attempt) {
        lease.ring.read(lease.discard, Integer.MAX_VALUE);
        if (lease.ring.consumerPosition() == lease.ring.producerPosition()) {
            unsettled.remove(lease);
            free.offer(lease); // when full, left to the GC
        } else if (attempt < SETTLE_ATTEMPTS) {
            if (attempt == 0) {
                unsettled.add(lease);
            }
            long interval = Math.min(MAX_SETTLE_INTERVAL_NANOS, FIRST_SETTLE_INTERVAL_NANOS << Math.min(attempt, 7));
            timers.schedule(clock.nanoTime() + interval, timerId -> settle(lease, attempt + 1));
        } else {
            unsettled.remove(lease);
            lease.abandon(); // left to the GC, and to the sender whose claim is still open
        }
    }

    /** Loop, as it stops: its timers will not fire again, so the rings still settling are let go of now. */
    void abandonUnsettled() {
        for (Lease lease : unsettled) {
            lease.abandon();
        }
        unsettled.clear();
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
