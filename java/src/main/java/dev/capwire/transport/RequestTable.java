package dev.capwire.transport;

import dev.capwire.wire.ClaimedFds;
import dev.capwire.wire.ErrorPayload;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ObjLongConsumer;
import java.util.function.Supplier;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.ManyToManyConcurrentArrayQueue;
import org.agrona.concurrent.NanoClock;

/**
 * The requests this side of one connection has sent and not yet seen answered: one slot per request the
 * in-flight limit allows, found from the reply's correlation id alone.
 *
 * <p>Why slots: a request in flight costs no object, no map entry and no queue entry of its own, so a caller
 * that keeps a thousand requests in flight allocates nothing per call. A correlation id is
 * {@code sequence << indexBits | slotIndex}: the slot is its low bits, and the sequence, taken once per
 * request, makes ids strictly increasing in the order requests start (GOAWAY's {@code last_correlation_id}
 * relies on that) and never reused, so a late reply to an expired request can never match its slot's next
 * request.
 *
 * <p>Threads: any thread starts a request (takes a free slot, fills it, then sends); the loop completes it
 * (reply, deadline, close); any thread may cancel it. Whoever wins the CAS on the slot's id owns the outcome,
 * so exactly one of them reaches the handler. A slot returns to the free list only when its request is
 * finished <em>and</em> its sender has finished queueing it, so a sender never writes into a slot that
 * already serves another request.
 *
 * <p>Deadlines cost no timer per request: one sweep timer per connection fires at the earliest deadline the
 * loop knows of, fails what is due and sets itself for the next. A sender publishes an earlier deadline than
 * any before it through {@link #deadlineFloor}; the loop picks it up before it writes that request.
 */
final class RequestTable implements Timers.Task {
    /** What the table needs from its connection; called on the loop. */
    interface Owner {
        /**
         * Tells the peer that nobody waits for a request any more: best effort, and the same way the request
         * went, so the CANCEL cannot overtake the request's own frames.
         */
        void sendCancel(long correlationId, boolean throughRing);

        /** A reply handler threw: report it; an {@link Error} closes the connection. */
        void replyHandlerFailed(Throwable failure);
    }

    /** The largest in-flight limit: the slot index must leave the correlation id's sequence room enough. */
    static final int MAX_SLOTS = 1 << 20;

    private static final VarHandle DEADLINE_FLOOR;
    private static final VarHandle SLOTS;

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            DEADLINE_FLOOR = lookup.findVarHandle(RequestTable.class, "deadlineFloor", long.class);
            SLOTS = lookup.findVarHandle(RequestTable.class, "slots", Slots.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final EventLoop loop;
    private final NanoClock clock;
    private final int capacity;
    private final int indexBits;
    private final long indexMask;
    private final Owner owner;
    private final Object name; // the connection, for messages
    private final AtomicLong sequence = new AtomicLong(1);
    // Null until the first request: a connection that never requests (a server's) allocates no slots.
    private volatile Slots slots;
    @SuppressWarnings("unused") // through DEADLINE_FLOOR
    private volatile long deadlineFloor = Long.MAX_VALUE;
    /** See {@link Connection#onLateReply}; read only when a reply finds nobody waiting. */
    private volatile ObjLongConsumer<InboundFrame> lateReplies;
    // Loop only.
    private final InboundFrame replyView = new InboundFrame();
    private long sweepTimerId = -1;
    private long sweepAt = Long.MAX_VALUE;

    RequestTable(EventLoop loop, int maxInFlight, Owner owner, Object name) {
        this.loop = loop;
        this.clock = loop.clock();
        this.capacity = maxInFlight;
        this.indexBits = 32 - Integer.numberOfLeadingZeros(Math.max(1, maxInFlight - 1));
        this.indexMask = (1L << indexBits) - 1;
        this.owner = owner;
        this.name = name;
    }

    /**
     * A correlation id no other message of this connection uses, for a fragmented NOTIFY: from the requests'
     * sequence, with slot index 0 (the sequence alone makes it unique).
     */
    long nextCorrelationId() {
        return sequence.getAndIncrement() << indexBits;
    }

    /** Requests in flight right now (taken slots not yet back on the free list). */
    int inFlight() {
        Slots current = slots;
        return current == null ? 0 : current.created.get() - current.free.size();
    }

    /**
     * Any thread: takes a slot for a new request and returns its correlation id, or 0 when {@code maxInFlight}
     * requests are in flight already. The caller then sends the request and calls {@link #sent}, after
     * {@link #abandon} if the send failed.
     */
    long start(long deadlineNanos, ReplyHandler handler) {
        Slots all = slots();
        Slot slot = all.take(capacity);
        if (slot == null) {
            return 0;
        }
        slot.handler = handler;
        slot.deadlineNanos = deadlineNanos;
        slot.startSending();
        long id = (sequence.getAndIncrement() << indexBits) | slot.index;
        slot.publish(id); // publishes the fields above to whichever thread claims the slot
        lowerDeadlineFloor(deadlineNanos);
        return id;
    }

    /**
     * The sender is done with the request: its last frame is queued, through the ring or (as loop work) through
     * staging, or it failed. Until then its slot is never reused.
     */
    void sent(long id, boolean throughRing) {
        Slot slot = slots.byIndex(id & indexMask);
        slot.throughRing = throughRing;
        slot.finishSending(slots.free);
    }

    /**
     * The caller drops a request it could not send (or sent on a connection that closed meanwhile), before
     * {@link #sent}. True when the caller reports the failure itself: the handler will never hear of this
     * request. False when the loop had already decided its outcome (the connection closed), and told the handler.
     */
    boolean abandon(long id) {
        Slot slot = slots.byIndex(id & indexMask);
        if (!slot.claim(id)) {
            return false;
        }
        slot.handler = null;
        slot.finish(slots.free);
        return true;
    }

    /**
     * Any thread: the caller gives up on request {@code id}. True when it was still in flight: its handler will
     * not be called, its slot is free again, and the peer is sent CANCEL (from the loop) so it can stop the work.
     */
    boolean cancel(long id) {
        Slot slot = find(id);
        if (slot == null || !slot.claim(id)) {
            return false;
        }
        boolean sending = (slot.state & Slot.SENDING) != 0;
        boolean throughRing = slot.throughRing;
        slot.handler = null;
        slot.finish(slots.free);
        if (!sending) {
            try {
                loop.execute(() -> owner.sendCancel(id, throughRing));
            } catch (IllegalStateException stopped) {
                // The transport has stopped: there is no connection left to tell.
            }
        }
        // Else its fragments are still being queued: a CANCEL now would land among them, which the peer must
        // treat as a protocol error. The message is finished instead, and the reply, if any, dropped.
        return true;
    }

    /** Any thread: whether request {@code id} is in flight (its slot still names it). */
    boolean isPending(long id) {
        Slot slot = find(id);
        return slot != null && slot.id == id;
    }

    /**
     * Any thread: hands {@code action} the handler and id of every request in flight, a snapshot taken slot by
     * slot (a request that starts or ends meanwhile may or may not be seen). For failing a group of requests at
     * once, such as every call on a cap the peer revoked. The id is read first and the handler after, so a slot
     * reused in between pairs an old id with a newer handler: {@link #cancel} of that id then claims nothing.
     */
    void forEachPending(ObjLongConsumer<? super ReplyHandler> action) {
        Slots all = slots;
        if (all == null) {
            return;
        }
        for (int i = 0, n = all.created.get(); i < n; i++) {
            Slot slot = all.byIndex(i);
            long id = slot.id; // the volatile read first: it publishes the handler written before it
            ReplyHandler handler = id != 0 ? slot.handler : null;
            if (handler != null) {
                action.accept(handler, id);
            }
        }
    }

    /** Loop: a RESPONSE or ERROR arrived; hands it to its request's handler, if anyone still waits for it. */
    void complete(byte type, long correlationId, DirectBuffer buffer, int offset, int length, ClaimedFds claimed) {
        Slot slot = find(correlationId);
        if (slot == null || !slot.claim(correlationId)) {
            if (type == FrameType.RESPONSE) {
                late(correlationId, buffer, offset, length, claimed);
            }
            return; // a reply after its deadline or cancellation: dropped (the loop closes its fds)
        }
        ReplyHandler handler = slot.take(slots.free);
        try {
            if (type == FrameType.RESPONSE) {
                replyView.set(type, correlationId, 0, 0, buffer, offset, length, claimed);
                handler.onReply(correlationId, replyView);
            } else {
                handler.onFailure(correlationId, new StatusException(ErrorPayload.code(buffer, offset, length),
                        ErrorPayload.reason(buffer, offset, length), ErrorPayload.message(buffer, offset, length),
                        null));
            }
        } catch (RuntimeException | Error e) {
            owner.replyHandlerFailed(e);
        }
    }

    void onLateReply(ObjLongConsumer<InboundFrame> handler) {
        lateReplies = handler;
    }

    private void late(long correlationId, DirectBuffer buffer, int offset, int length, ClaimedFds claimed) {
        ObjLongConsumer<InboundFrame> handler = lateReplies;
        if (handler == null) {
            return;
        }
        replyView.set(FrameType.RESPONSE, correlationId, 0, 0, buffer, offset, length, claimed);
        try {
            handler.accept(replyView, correlationId);
        } catch (RuntimeException | Error e) {
            owner.replyHandlerFailed(e);
        }
    }

    /** Loop, before it writes: a sender may have started a request due before the sweep it knows of. */
    void noticeNewDeadlines() {
        if ((long) DEADLINE_FLOOR.getVolatile(this) == Long.MAX_VALUE) {
            return;
        }
        long floor = (long) DEADLINE_FLOOR.getAndSet(this, Long.MAX_VALUE);
        if (floor < sweepAt) {
            scheduleSweep(floor);
        }
    }

    /** Loop: the sweep timer fired. Fails every request whose deadline passed and sets the next sweep. */
    @Override
    public void onTimer(long timerId) {
        sweepTimerId = -1;
        sweepAt = Long.MAX_VALUE;
        Slots all = slots;
        long now = clock.nanoTime();
        long earliest = Long.MAX_VALUE;
        for (int i = 0, n = all.created.get(); i < n; i++) {
            Slot slot = all.byIndex(i);
            long id = slot.id;
            if (id == 0) {
                continue;
            }
            long deadline = slot.deadlineNanos; // read after id: the deadline of that very request
            if (deadline - now > 0) {
                earliest = Math.min(earliest, deadline);
            } else if (slot.claim(id)) {
                expire(slot, id);
            }
        }
        if (earliest != Long.MAX_VALUE) {
            scheduleSweep(earliest);
        }
    }

    private void expire(Slot slot, long id) {
        boolean sending = (slot.state & Slot.SENDING) != 0;
        boolean throughRing = slot.throughRing;
        ReplyHandler handler = slot.take(slots.free);
        if (!sending) {
            owner.sendCancel(id, throughRing);
        }
        fail(handler, id, new StatusException(StatusCode.DEADLINE_EXCEEDED, "no reply to request " + id
                + " on " + name + " before its deadline"));
    }

    /**
     * Loop: fails every request in flight with the exception {@code cause} supplies (UNAVAILABLE naming why the
     * connection closed). Built only when someone is waiting: at most closes nobody is.
     */
    void failAll(Supplier<StatusException> cause) {
        if (sweepTimerId != -1) {
            loop.timers().cancel(sweepTimerId);
            sweepTimerId = -1;
            sweepAt = Long.MAX_VALUE;
        }
        Slots all = slots;
        if (all == null) {
            return;
        }
        StatusException failure = null;
        for (int i = 0, n = all.created.get(); i < n; i++) {
            Slot slot = all.byIndex(i);
            long id = slot == null ? 0 : slot.id;
            if (id != 0 && slot.claim(id)) {
                if (failure == null) {
                    failure = cause.get();
                }
                fail(slot.take(all.free), id, failure);
            }
        }
    }

    private void fail(ReplyHandler handler, long id, StatusException failure) {
        try {
            handler.onFailure(id, failure);
        } catch (RuntimeException | Error e) {
            owner.replyHandlerFailed(e);
        }
    }

    private void scheduleSweep(long at) {
        if (sweepTimerId != -1) {
            loop.timers().cancel(sweepTimerId);
        }
        sweepTimerId = loop.timers().schedule(at, this);
        sweepAt = at;
    }

    private void lowerDeadlineFloor(long deadlineNanos) {
        long floor = (long) DEADLINE_FLOOR.getVolatile(this);
        while (deadlineNanos < floor && !DEADLINE_FLOOR.compareAndSet(this, floor, deadlineNanos)) {
            floor = (long) DEADLINE_FLOOR.getVolatile(this);
        }
    }

    /** The slot an id names, or null for an id no request of ours ever had (the peer's reply is untrusted). */
    private Slot find(long id) {
        Slots all = slots;
        long index = id & indexMask;
        return all == null || index >= all.created.get() ? null : all.byIndex(index);
    }

    private Slots slots() {
        Slots existing = slots;
        if (existing != null) {
            return existing;
        }
        Slots created = new Slots(capacity);
        return SLOTS.compareAndSet(this, null, created) ? created : (Slots) SLOTS.getVolatile(this);
    }

    /**
     * How a thread waits for another that is a few instructions into handing a slot over (an offer to the free
     * list, see {@link Slot#giveBack} and {@link Slots#takeAtTheLimit}): spins, then yields, in case that thread lost
     * its core in the middle.
     */
    private static void pause(int attempt) {
        if (attempt < 64) {
            Thread.onSpinWait();
        } else {
            Thread.yield();
        }
    }

    /** Every slot created so far, and the free ones among them. */
    private static final class Slots {
        private static final VarHandle ELEMENTS = MethodHandles.arrayElementVarHandle(Slot[].class);

        final Slot[] all;
        final ManyToManyConcurrentArrayQueue<Slot> free;
        /** Slots created so far: a connection that keeps few requests in flight creates few. */
        final AtomicInteger created = new AtomicInteger();

        Slots(int capacity) {
            all = new Slot[capacity];
            free = new ManyToManyConcurrentArrayQueue<>(Math.max(2, capacity));
        }

        /** A free slot, a new one while fewer than {@code capacity} exist, else null. */
        Slot take(int capacity) {
            Slot slot = free.poll();
            while (slot == null) {
                int n = created.get();
                if (n >= capacity) {
                    return takeAtTheLimit();
                }
                if (created.compareAndSet(n, n + 1)) {
                    slot = new Slot(n);
                    ELEMENTS.setRelease(all, n, slot);
                } else {
                    slot = free.poll();
                }
            }
            return slot;
        }

        /**
         * Every slot exists, so one comes only from the queue. Its poll answers null not only when the queue is
         * empty but also while the offer at its head is half done: Agrona's offer moves the tail, then stores the
         * slot, then marks the position full, and poll looks at the head position only. A thread whose own request
         * had finished (its slot's offer complete, further back in the queue) was then refused at the limit,
         * RESOURCE_EXHAUSTED with fewer requests in flight than the limit (RequestSlotsAtTheLimitTest). The tail
         * is ahead of the head from the first step of an offer, so while the queue is not empty a slot is on its
         * way, a few instructions from done, and worth waiting for; empty, no slot has started coming back, and
         * the refusal stands. The fast path is untouched: the wait costs a branch only where a refusal did.
         */
        private Slot takeAtTheLimit() {
            Slot slot;
            for (int attempt = 0; (slot = free.poll()) == null && !free.isEmpty(); attempt++) {
                pause(attempt);
            }
            return slot;
        }

        /** The slot at {@code index}; spins while its creator is between counting it and storing it. */
        Slot byIndex(long index) {
            Slot slot;
            while ((slot = (Slot) ELEMENTS.getAcquire(all, (int) index)) == null) {
                Thread.onSpinWait();
            }
            return slot;
        }
    }

    /** One request's state while in flight; reused by the requests that follow it. */
    private static final class Slot {
        static final int SENDING = 1;  // its sender has not finished queueing its frames
        static final int FINISHED = 2; // answered, failed or cancelled

        private static final VarHandle ID;
        private static final VarHandle STATE;

        static {
            try {
                MethodHandles.Lookup lookup = MethodHandles.lookup();
                ID = lookup.findVarHandle(Slot.class, "id", long.class);
                STATE = lookup.findVarHandle(Slot.class, "state", int.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        final int index;
        /** The request it serves; 0 once that request is finished (or before the first). */
        volatile long id;
        volatile int state;
        /** Written before the CAS that clears SENDING, read after a read of state that saw it cleared. */
        boolean throughRing;
        ReplyHandler handler;
        long deadlineNanos;

        Slot(int index) {
            this.index = index;
        }

        /**
         * A taker begins: nobody else touches a free slot, and {@link #publish} orders this before the id, so a
         * plain write will do (each full fence on this path costs every request).
         */
        void startSending() {
            STATE.set(this, SENDING);
        }

        /** Makes the request visible: a release store, as the fields written before it need no more. */
        void publish(long requestId) {
            ID.setRelease(this, requestId);
        }

        /** Whoever moves the id from {@code expected} to 0 owns the request's outcome. */
        boolean claim(long expected) {
            return ID.compareAndSet(this, expected, 0L);
        }

        /** After a claim: the handler to tell, and the slot is finished. */
        ReplyHandler take(ManyToManyConcurrentArrayQueue<Slot> free) {
            ReplyHandler taken = handler;
            handler = null;
            finish(free);
            return taken;
        }

        void finish(ManyToManyConcurrentArrayQueue<Slot> free) {
            if ((setBit(FINISHED) & SENDING) == 0) {
                giveBack(free);
            }
        }

        void finishSending(ManyToManyConcurrentArrayQueue<Slot> free) {
            if ((clearBit(SENDING) & FINISHED) != 0) {
                giveBack(free);
            }
        }

        /**
         * The queue has room for every slot, yet its offer can still fail: when a sender that took the slot at
         * the queue's next position a lap ago has claimed it and not yet handed the position back. A slot whose
         * offer failed would be lost to the connection for good (one in-flight request less, each time), so the
         * offer is retried. The sender in the way is a few instructions from done, unless its thread lost its core
         * there: then this one yields it.
         */
        private void giveBack(ManyToManyConcurrentArrayQueue<Slot> free) {
            for (int attempt = 0; !free.offer(this); attempt++) {
                pause(attempt);
            }
        }

        /** Sets {@code bit}; returns the state before. */
        private int setBit(int bit) {
            int before;
            do {
                before = state;
            } while (!STATE.compareAndSet(this, before, before | bit));
            return before;
        }

        private int clearBit(int bit) {
            int before;
            do {
                before = state;
            } while (!STATE.compareAndSet(this, before, before & ~bit));
            return before;
        }
    }
}
