package dev.capwire.bench.peers;

import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * What the Capwire echo peers share: a client transport, either with its own loop thread or, in invoker mode,
 * driven by the benchmark thread itself ({@code Transport.poll()}) while it waits, as a latency-critical
 * application that already owns a busy thread would; the count of echoes the loop has seen; and how the
 * waiting thread waits (a thread that yields leaves the core to the loop thread it waits for).
 */
abstract class CapwireClientPeer implements EchoPeer {
    private static final VarHandle RECEIVED;

    static {
        try {
            RECEIVED = MethodHandles.lookup().findVarHandle(CapwireClientPeer.class, "received", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final Transport transport;
    private final boolean invoker;
    @SuppressWarnings("unused") // through RECEIVED
    private volatile long received;

    CapwireClientPeer(TransportOptions.Builder options, boolean invoker) throws Exception {
        this.invoker = invoker;
        this.transport = Transport.create(options.eventLoops(invoker ? 0 : 1).build());
    }

    /** Loop: one more echo. The loop is the only writer, so no atomic increment is needed. */
    final void countReceived() {
        RECEIVED.setRelease(this, (long) RECEIVED.getOpaque(this) + 1);
    }

    @Override
    public final void roundTrip() {
        long target = received() + 1;
        while (!send()) {
            idle();
        }
        while (received() < target) {
            idle();
        }
    }

    /** Waiting: drive the transport in invoker mode, else let the loop thread have the core. */
    private void idle() {
        if (invoker) {
            transport.poll();
        } else {
            Thread.yield();
        }
    }

    @Override
    public final void flush() {
        if (invoker) {
            transport.poll();
        }
    }

    @Override
    public final long received() {
        return (long) RECEIVED.getAcquire(this);
    }

    @Override
    public final void close() {
        transport.close();
    }
}
