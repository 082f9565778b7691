package dev.capwire.rpc;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.CancellationException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A server stream this side consumes: items arrive as loop work and wait here until the caller's thread
 * hands them to its sink; credit goes back to the producer as they are consumed, half a window at a time.
 * The queue never holds more than the window, because the producer may not send past its credit (one that
 * does ends the connection).
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
        return true;
    }

    /** The stream's answer arrived (null: completed), or the call failed: no item follows. */
    void end(Throwable failure) {
        if (ended.compareAndSet(false, true)) {
            queue.add(new End(failure));
        }
    }

    /** Caller's thread: hands every item to {@code sink} until the end; throws the stream's failure. */
    void drain(Codec codec, StreamSink<?> sink, Question question) {
        @SuppressWarnings("unchecked")
        StreamSink<Object> out = (StreamSink<Object>) sink;
        int consumedSinceGrant = 0;
        for (;;) {
            Object next;
            try {
                next = queue.take();
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

    private void grant(int items) {
        creditLeft.addAndGet(items);
        try {
            rpc.sendControl(RpcConnection.STREAM_CREDIT, Outgoing.credit(id, items),
                    dev.capwire.Configuration.sendTimeoutMs());
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
