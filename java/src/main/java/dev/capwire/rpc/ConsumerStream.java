package dev.capwire.rpc;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.transport.Connection;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A server stream this side consumes: items arrive as loop work and wait here until the caller's thread
 * hands them to its sink; credit goes back to the producer as they are consumed, half a window at a time.
 * The queue never holds more than the window, because the producer may not send past its credit (one that
 * does ends the connection).
 *
 * <p>How the consumer waits for the next item depends on who runs the loop. With a loop thread it blocks on
 * the queue. In invoker mode, on the owning thread, the loop would never run while it blocked, and the items
 * (and the credit it grants) would never move: it waits through {@link Connection#await} instead, on an
 * {@link #arrival} future the next item or the end completes, which runs the loop until then.
 */
final class ConsumerStream {
    static final FileDescriptor[] NO_FDS = new FileDescriptor[0];

    private final RpcConnection rpc;
    private final int id;
    private final int window;
    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private final AtomicInteger creditLeft;
    private final AtomicBoolean ended = new AtomicBoolean();
    private boolean abandoned; // guarded by this
    /** Invoker mode: what the waiting consumer's loop runs until; null while it does not wait. Guarded by this. */
    private CompletableFuture<Void> arrival;

    ConsumerStream(RpcConnection rpc, int id, int window) {
        this.rpc = rpc;
        this.id = id;
        this.window = window;
        this.creditLeft = new AtomicInteger(window);
    }

    int id() {
        return id;
    }

    /** Loop: one item; false when the producer had no credit for it. */
    synchronized boolean offer(byte[] content, FileDescriptor[] fds) {
        boolean withinCredit = creditLeft.decrementAndGet() >= 0;
        if (!withinCredit || abandoned) {
            for (FileDescriptor fd : fds) {
                fd.close();
            }
            return withinCredit;
        }
        queue.add(new Item(content, fds));
        arrived();
        return true;
    }

    /** The stream's answer arrived (null: completed), or the call failed: no item follows. */
    void end(Throwable failure) {
        if (ended.compareAndSet(false, true)) {
            queue.add(new End(failure));
            synchronized (this) {
                arrived();
            }
        }
    }

    /** Holding the lock: something was queued; a waiting invoker-mode consumer stops running the loop. */
    private void arrived() {
        CompletableFuture<Void> waiting = arrival;
        if (waiting != null) {
            arrival = null;
            waiting.complete(null);
        }
    }

    /**
     * Caller's thread: hands every item to {@code sink} until the end; throws the stream's failure.
     * {@code drivesLoop}: the caller is the invoker-mode thread that runs the loop (see {@link
     * Connection#ensureMayBlock}).
     */
    void drain(Codec codec, StreamSink<?> sink, Question question, boolean drivesLoop) {
        @SuppressWarnings("unchecked")
        StreamSink<Object> out = (StreamSink<Object>) sink;
        int consumedSinceGrant = 0;
        for (;;) {
            Object next;
            try {
                next = drivesLoop ? runLoopForNext() : awaitNext();
            } catch (InterruptedException e) {
                question.cancel(true);
                Thread.currentThread().interrupt();
                throw new StatusException(StatusCode.CANCELLED, "call.interrupted", "interrupted in stream " + id, e);
            }
            if (next instanceof End) {
                Throwable failure = ((End) next).failure;
                if (failure == null) {
                    return;
                }
                if (failure instanceof CancellationException) {
                    throw new StatusException(StatusCode.CANCELLED, "call.cancelled", "stream " + id + " was cancelled",
                            failure);
                }
                throw Caller.asStatus(failure);
            }
            Item item = (Item) next;
            Incoming in = new Incoming(rpc.importer(), new UnsafeBuffer(item.content), 0, item.content.length,
                    Incoming.descriptors(null, 0, 0), item.fds);
            Object value;
            try {
                value = codec.decode(in);
                in.requireAllTaken();
            } catch (RuntimeException e) {
                in.discard();
                question.cancel(true);
                throw new StatusException(StatusCode.INVALID_ARGUMENT, "args.malformed",
                        "stream " + id + " sent an item that does not decode: " + e.getMessage(), e);
            }
            try {
                out.next(value);
            } catch (RuntimeException | Error e) {
                question.cancel(true); // the consumer gave up: the producer hears CANCEL
                throw e;
            }
            if (++consumedSinceGrant >= Math.max(1, window / 2)) {
                grant(consumedSinceGrant);
                consumedSinceGrant = 0;
            }
        }
    }

    /** A loop thread queues the items: the next item or the end, yielding a while before it blocks for it. */
    private Object awaitNext() throws InterruptedException {
        Object next = queue.poll();
        if (next == null && rpc.connection().yieldUntil(() -> !queue.isEmpty())) {
            next = queue.poll();
        }
        return next != null ? next : queue.take();
    }

    /**
     * Invoker mode: the next item or the end, running the loop until one is queued. Interrupts are seen at
     * every item, as {@link LinkedBlockingQueue#take} sees them.
     */
    private Object runLoopForNext() throws InterruptedException {
        for (;;) {
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
            Object next = queue.poll();
            if (next != null) {
                return next;
            }
            CompletableFuture<Void> waiting;
            synchronized (this) {
                if (!queue.isEmpty()) {
                    continue;
                }
                waiting = new CompletableFuture<>();
                arrival = waiting;
            }
            try {
                rpc.connection().await(waiting, Caller.NO_DEADLINE_MS);
            } catch (ExecutionException | TimeoutException e) {
                // Only arrived() completes it, normally; a year without an item or an end is a stuck peer.
                throw new StatusException(StatusCode.DEADLINE_EXCEEDED, "call.deadline",
                        "no item and no end of stream " + id, e);
            }
        }
    }

    private void grant(int items) {
        creditLeft.addAndGet(items);
        try {
            rpc.sendControl(RpcConnection.STREAM_CREDIT, Outgoing.credit(id, items),
                    rpc.connection().options().sendTimeoutMs());
        } catch (StatusException e) {
            // Closed: the stream's end is on its way.
        }
    }

    /** Closes the fds of items nobody will consume, now and later. */
    synchronized void closeUnconsumed() {
        abandoned = true;
        Object next;
        while ((next = queue.poll()) != null) {
            if (next instanceof Item) {
                for (FileDescriptor fd : ((Item) next).fds) {
                    fd.close();
                }
            }
        }
    }

    private static final class Item {
        final byte[] content;
        final FileDescriptor[] fds;

        Item(byte[] content, FileDescriptor[] fds) {
            this.content = content;
            this.fds = fds;
        }
    }

    private static final class End {
        final Throwable failure;

        End(Throwable failure) {
            this.failure = failure;
        }
    }
}
