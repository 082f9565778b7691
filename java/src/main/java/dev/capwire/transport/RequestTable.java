package dev.capwire.transport;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.wire.ClaimedFds;
import dev.capwire.wire.ErrorPayload;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.agrona.DirectBuffer;
import org.agrona.collections.Long2ObjectHashMap;
import org.agrona.concurrent.ManyToOneConcurrentArrayQueue;

/**
 * The requests this side of one connection has sent and not yet seen answered: correlation ids, the
 * in-flight limit, and each request's deadline.
 *
 * <p>Any thread may start a request; only the loop touches the table itself. A new request is therefore
 * queued for the loop (lock-free) and registered the next time the loop writes or a reply arrives; the reply
 * may even come first, see {@link #registerAll()}.
 */
final class RequestTable {
    private static final VarHandle NEW_REQUESTS;

    static {
        try {
            NEW_REQUESTS = MethodHandles.lookup().findVarHandle(RequestTable.class, "newRequests",
                    ManyToOneConcurrentArrayQueue.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Tells the peer that nobody waits for a request any more (its deadline passed): best effort, and the same
     * way the request went, so the CANCEL cannot overtake the request's own frames.
     */
    interface CancelSender {
        void sendCancel(long correlationId, boolean throughRing);
    }

    private final EventLoop loop;
    private final int maxInFlight;
    private final CancelSender cancels;
    private final Object owner; // the connection, for messages
    private final AtomicLong nextCorrelationId = new AtomicLong(1);
    private final AtomicInteger inFlight = new AtomicInteger();
    // Loop only: registered requests by correlation id.
    private final Long2ObjectHashMap<PendingRequest> pending = new Long2ObjectHashMap<>();
    // Null until the first request: its maxInFlight slots cost a connection that never calls (a handshake-only
    // one, a server's) more to allocate and zero than the rest of its state.
    private volatile ManyToOneConcurrentArrayQueue<PendingRequest> newRequests;

    RequestTable(EventLoop loop, int maxInFlight, CancelSender cancels, Object owner) {
        this.loop = loop;
        this.maxInFlight = maxInFlight;
        this.cancels = cancels;
        this.owner = owner;
    }

    /** A correlation id no other message of this connection uses (fragmented notifies need one too). */
    long nextCorrelationId() {
        return nextCorrelationId.getAndIncrement();
    }

    int inFlight() {
        return inFlight.get();
    }

    /**
     * Any thread: a new request with its own correlation id and deadline, queued for the loop to register;
     * null when {@code maxInFlight} requests are in flight already.
     */
    PendingRequest start(long deadlineNanos) {
        if (!tryAcquireInFlight()) {
            return null;
        }
        PendingRequest request = new PendingRequest(nextCorrelationId(), deadlineNanos);
        ManyToOneConcurrentArrayQueue<PendingRequest> queue = newRequests();
        while (!queue.offer(request)) {
            Thread.onSpinWait(); // bounded by maxInFlight: the loop drains it every duty cycle
        }
        return request;
    }

    private boolean tryAcquireInFlight() {
        for (;;) {
            int current = inFlight.get();
            if (current >= maxInFlight) {
                return false;
            }
            if (inFlight.compareAndSet(current, current + 1)) {
                return true;
            }
        }
    }

    /** The queue of requests the loop has not registered yet, allocated by whichever thread first calls. */
    @SuppressWarnings("unchecked")
    private ManyToOneConcurrentArrayQueue<PendingRequest> newRequests() {
        ManyToOneConcurrentArrayQueue<PendingRequest> existing = newRequests;
        if (existing != null) {
            return existing;
        }
        // A request is queued only after taking an in-flight slot, so maxInFlight entries always suffice.
        ManyToOneConcurrentArrayQueue<PendingRequest> created =
                new ManyToOneConcurrentArrayQueue<>(Math.max(16, maxInFlight));
        return NEW_REQUESTS.compareAndSet(this, null, created) ? created
                : (ManyToOneConcurrentArrayQueue<PendingRequest>) NEW_REQUESTS.getVolatile(this);
    }

    /** Loop: moves the requests producers have queued into the table and starts their deadline timers. */
    void registerNew() {
        ManyToOneConcurrentArrayQueue<PendingRequest> queue = newRequests;
        PendingRequest request;
        while (queue != null && (request = queue.poll()) != null) {
            register(request);
        }
    }

    /**
     * Loop: registers every queued request, including any whose producer has claimed a queue slot but not
     * yet stored into it. poll() stops at such a hole, yet a later producer's request (and its reply) can be
     * past it; without this wait that reply would find no request and be dropped, and its caller would see
     * DEADLINE_EXCEEDED. The wait is short and bounded: the producer is between two instructions, and no new
     * producer can join while the loop is here, because only the loop releases in-flight slots.
     */
    private void registerAll() {
        ManyToOneConcurrentArrayQueue<PendingRequest> queue = newRequests;
        while (queue != null && !queue.isEmpty()) {
            PendingRequest request = queue.poll();
            if (request == null) {
                Thread.onSpinWait();
            } else {
                register(request);
            }
        }
    }

    private void register(PendingRequest request) {
        if (request.future.isDone()) {
            // Its send failed (the caller already has the failure), or its caller cancelled it first.
            inFlight.decrementAndGet();
            if (request.future.isCancelled()) {
                request.tellPeerNobodyWaits();
            }
            return;
        }
        pending.put(request.correlationId, request);
        request.timerId = loop.timers().schedule(request.deadlineNanos, request);
    }

    /** Loop: a RESPONSE or ERROR arrived; completes its request, if anyone still waits for it. */
    void complete(byte type, long correlationId, DirectBuffer buffer, int offset, int length, ClaimedFds claimed) {
        PendingRequest request = pending.remove(correlationId);
        if (request == null) {
            registerAll(); // the reply may have overtaken the loop's registration of the request
            request = pending.remove(correlationId);
        }
        if (request == null) {
            return; // a reply after its deadline: nobody is waiting for it (its fds are closed by the caller)
        }
        loop.timers().cancel(request.timerId);
        inFlight.decrementAndGet();
        if (type == FrameType.RESPONSE) {
            byte[] payload = new byte[length];
            buffer.getBytes(offset, payload);
            long[] numbers = claimed.takeAll();
            FileDescriptor[] fds = new FileDescriptor[numbers.length];
            for (int i = 0; i < numbers.length; i++) {
                fds[i] = FileDescriptor.adopt(numbers[i]);
            }
            request.future.complete(new Response(payload, fds));
        } else {
            request.fail(new StatusException(ErrorPayload.code(buffer, offset, length),
                    ErrorPayload.reason(buffer, offset, length), ErrorPayload.message(buffer, offset, length), null));
        }
    }

    /**
     * Loop: fails every request in flight with the exception {@code cause} supplies (UNAVAILABLE naming why the
     * connection closed). Built only when someone is waiting: at most closes nobody is.
     */
    void failAll(Supplier<StatusException> cause) {
        registerAll();
        if (pending.isEmpty()) {
            return;
        }
        StatusException failure = cause.get();
        // The count drops before any future completes, so a caller woken by the failure sees it already.
        inFlight.addAndGet(-pending.size());
        for (PendingRequest request : pending.values()) {
            loop.timers().cancel(request.timerId);
            request.fail(failure);
        }
        pending.clear();
    }

    /** A request awaiting its reply; it is its own deadline timer task. */
    final class PendingRequest implements Timers.Task {
        final long correlationId;
        final long deadlineNanos;
        final CompletableFuture<Response> future = new RequestFuture(this);
        long timerId = -1;
        /** Set by the sender once the request's last frame is queued, with the way it took. */
        private volatile int sent; // 0: still sending; 1: through the ring; 2: as loop work, through staging

        void sent(boolean throughRing) {
            sent = throughRing ? 1 : 2;
        }

        PendingRequest(long correlationId, long deadlineNanos) {
            this.correlationId = correlationId;
            this.deadlineNanos = deadlineNanos;
        }

        void fail(StatusException cause) {
            future.completeExceptionally(cause);
        }

        @Override
        public void onTimer(long firedTimerId) {
            if (pending.remove(correlationId) != this) {
                return;
            }
            inFlight.decrementAndGet();
            fail(new StatusException(StatusCode.DEADLINE_EXCEEDED, "no reply to request " + correlationId
                    + " on " + owner + " before its deadline"));
            tellPeerNobodyWaits();
        }

        /** Loop: the caller cancelled the future; the request leaves the table and the peer hears of it. */
        void cancelledByCaller() {
            if (pending.remove(correlationId) == this) {
                loop.timers().cancel(timerId);
                inFlight.decrementAndGet();
                tellPeerNobodyWaits();
            } else {
                registerAll(); // not registered yet: register() sees it cancelled and does the same
            }
        }

        void tellPeerNobodyWaits() {
            int how = sent;
            if (how != 0) {
                cancels.sendCancel(correlationId, how == 1);
            }
            // Else its fragments are still being queued: a CANCEL now would land among them, which the peer must
            // treat as a protocol error. The message is finished instead, and the reply, if any, dropped.
        }
    }

    /**
     * The future a requester holds. Cancelling it is how a caller gives up before the deadline: the loop then
     * frees the in-flight slot and sends CANCEL, so the peer can stop the work (an RPC handler sees its call
     * cancelled). One object per request, as a plain future would be.
     */
    private final class RequestFuture extends CompletableFuture<Response> {
        private final PendingRequest request;

        RequestFuture(PendingRequest request) {
            this.request = request;
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            boolean cancelled = super.cancel(mayInterruptIfRunning);
            if (cancelled) {
                loop.execute(request::cancelledByCaller);
            }
            return cancelled;
        }
    }
}
