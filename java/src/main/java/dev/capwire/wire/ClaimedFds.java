package dev.capwire.wire;

import java.util.function.IntConsumer;
import org.agrona.collections.IntArrayQueue;

/**
 * The fd numbers that belong to one frame, claimed from the connection's arrival queue in wire order (the
 * order the frames' first bytes arrived, which is also the order their fds arrived). Reused per frame.
 */
public final class ClaimedFds {
    private final int[] numbers = new int[FrameHeader.MAX_FDS];
    private int count;

    /** Moves {@code n} fds from the head of {@code arrived}; the caller has checked that many are there. */
    void claim(IntArrayQueue arrived, int n) {
        for (int i = 0; i < n; i++) {
            numbers[i] = arrived.pollInt();
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
    public int[] takeAll() {
        int[] taken = new int[count];
        System.arraycopy(numbers, 0, taken, 0, count);
        count = 0;
        return taken;
    }

    /** Hands every fd still held to {@code closer} and forgets them. */
    public void releaseAll(IntConsumer closer) {
        for (int i = 0; i < count; i++) {
            closer.accept(numbers[i]);
        }
        count = 0;
    }
}
