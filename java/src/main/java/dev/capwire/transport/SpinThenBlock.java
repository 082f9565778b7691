package dev.capwire.transport;

import java.util.function.BooleanSupplier;

/**
 * How a thread waits for something another thread or process will do within microseconds (a handshake reply,
 * a close finishing, and through {@link Connection#yieldUntil} a reply, a stream's next item or its credit): it
 * yields the core and checks again, for at most a budget, before it blocks. On these
 * hosts a thread that blocks pays tens of microseconds of scheduler latency to wake up, several times the
 * whole exchange it waits for. Yielding rather than spinning hot leaves the core to the thread that will do
 * the work when both share one. The budget is {@code capwire.parkAfterIdleMicros}, the same time an idle
 * event loop spins before it parks; 0 means block at once.
 */
public final class SpinThenBlock {
    private SpinThenBlock() {
    }

    /** Yields until {@code done} says true or {@code budgetNanos} pass; returns whether it is done. */
    public static boolean spin(BooleanSupplier done, long budgetNanos) {
        if (done.getAsBoolean()) {
            return true;
        }
        if (budgetNanos <= 0) {
            return false;
        }
        long until = System.nanoTime() + budgetNanos;
        do {
            Thread.yield();
            if (done.getAsBoolean()) {
                return true;
            }
        } while (System.nanoTime() - until < 0);
        return false;
    }
}
