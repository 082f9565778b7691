package dev.capwire.rpc;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.transport.StatusException;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The sink a streaming handler writes to: one item per unit of the caller's credit, waiting (on the
 * handler's thread, never the loop's) while there is none, and failing once the call is over so that the
 * handler stops.
 */
final class ProducerStream implements StreamSink<Object> {
    /** How often a producer waiting for credit looks at its deadline, which no CANCEL may announce. */
    private static final long DEADLINE_CHECK_MS = 20;

    private final RpcConnection rpc;
    private final int id;
    private final Codec codec;
    private final CallContext context;
    private final long sendTimeoutMs; // the transport's, read once per stream, not per item
    private long credit; // guarded by this
    private volatile long items;

    ProducerStream(RpcConnection rpc, int id, int initialCredit, Codec codec, CallContext context) {
        this.rpc = rpc;
        this.id = id;
        this.credit = Integer.toUnsignedLong(initialCredit);
        this.codec = codec;
        this.context = context;
        this.sendTimeoutMs = rpc.connection().options().sendTimeoutMs();
    }

    int id() {
        return id;
    }

    long items() {
        return items;
    }

    @Override
    public void next(Object item) {
        takeCredit();
        Outgoing out = rpc.outgoing();
        try {
            codec.encode(item, out);
            UnsafeBuffer payload = out.streamItem(id);
            FileDescriptor[] fds = out.fds();
            try {
                rpc.sendControl(RpcConnection.STREAM_ITEM, payload, sendTimeoutMs, fds);
            } finally {
                for (FileDescriptor fd : fds) {
                    fd.close(); // an item's fds are Capwire's once handed over, as a result's are
                }
            }
        } finally {
            out.recycle();
        }
        items++;
    }

    private void takeCredit() {
        if (!hasCreditOrEnded()) {
            // The consumer grants more every half window, usually within microseconds: yield a while first, as
            // a caller waiting for its answer does, rather than pay a blocked thread's wake-up per grant.
            rpc.connection().yieldUntil(this::hasCreditOrEnded);
        }
        waitForCredit();
    }

    private synchronized boolean hasCreditOrEnded() {
        return credit > 0 || context.isCancelled();
    }

    private synchronized void waitForCredit() {
        for (;;) {
            StatusException over = context.cancellation();
            if (over != null) {
                throw over;
            }
            if (credit > 0) {
                credit--;
                return;
            }
            try {
                wait(DEADLINE_CHECK_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new StatusException(dev.capwire.wire.StatusCode.CANCELLED, "call.interrupted",
                        "interrupted while waiting for stream credit", e);
            }
        }
    }

    /** Loop: the consumer granted {@code items} more; false when that would exceed 2^31 - 1 outstanding. */
    synchronized boolean grant(int items) {
        long next = credit + Integer.toUnsignedLong(items);
        if (next > Integer.MAX_VALUE) {
            return false;
        }
        credit = next;
        notifyAll();
        return true;
    }

    /** The call is over: a producer waiting for credit wakes to find out. */
    synchronized void wake() {
        notifyAll();
    }
}
