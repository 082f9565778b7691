package dev.capwire.wire;

import java.util.function.LongConsumer;
import org.agrona.collections.LongArrayQueue;

/**
 * The fd numbers that belong to one frame, claimed from the connection's arrival queue in wire order (the
 * order the frames' first bytes arrived, which is also the order their fds arrived). Reused per frame. A number
 * is 64 bits: an fd on Unix, a {@code SOCKET} or {@code HANDLE} on Windows.
 */
public final class ClaimedFds {
    private final long[] numbers = new long[FrameHeader.MAX_FDS];
    private int count;

    /** Moves {@code n} fds from the head of {@code arrived}; the caller has checked that many are there. */
    void claim(LongArrayQueue arrived, int n) {
        for (int i = 0; i < n; i++) {
            numbers[i] = arrived.pollLong();
        }
        count = n;
    }

    /** Takes over every fd {@code other} holds. */
    void moveFrom(ClaimedFds other) {
        System.arraycopy(other.numbers, 0, numbers, 0, other.count);
        count = other.count;
        other.count = 0;
    }

    public int count() {
        return count;
    }

    /** Takes the fd numbers; from here on the caller owns them and this holds none. */
    public long[] takeAll() {
        long[] taken = new long[count];
        System.arraycopy(numbers, 0, taken, 0, count);
        count = 0;
        return taken;
    }

    /** Hands every fd still held to {@code closer} and forgets them. */
    public void releaseAll(LongConsumer closer) {
        for (int i = 0; i < count; i++) {
            closer.accept(numbers[i]);
        }
        count = 0;
    }
}
