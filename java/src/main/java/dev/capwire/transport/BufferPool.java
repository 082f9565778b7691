package dev.capwire.transport;

import org.agrona.BufferUtil;
import org.agrona.concurrent.ManyToManyConcurrentArrayQueue;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Direct buffers of one size, kept for reuse by the connections of a transport. Only buffers that the event
 * loop alone touches (a connection's receive and staging buffers) come from here: once the connection is
 * closed, no other thread can reach them, so handing them to the next connection is safe. Reuse matters
 * because a fresh direct buffer costs a page fault per page and zeroing, which made setting up a connection
 * cost milliseconds on a busy host; the pool keeps at most {@code capacity} buffers, so a burst of
 * connections does not pin its memory for good.
 */
final class BufferPool {
    /** Stands in for a buffer given back: any stray use fails its bounds check instead of sharing memory. */
    static final UnsafeBuffer RELEASED = new UnsafeBuffer(new byte[0]);

    private final int bufferBytes;
    private final ManyToManyConcurrentArrayQueue<UnsafeBuffer> free;

    BufferPool(int bufferBytes, int capacity) {
        this.bufferBytes = bufferBytes;
        this.free = new ManyToManyConcurrentArrayQueue<>(capacity);
    }

    /** A buffer of {@code bufferBytes}; its content is whatever the last user left. */
    UnsafeBuffer take() {
        UnsafeBuffer buffer = free.poll();
        return buffer != null ? buffer : new UnsafeBuffer(BufferUtil.allocateDirectAligned(bufferBytes, 64));
    }

    /** Returns a buffer nobody will touch again; beyond the pool's capacity it is left to the GC. */
    void give(UnsafeBuffer buffer) {
        if (buffer.capacity() == bufferBytes) {
            free.offer(buffer);
        }
    }

    int bufferBytes() {
        return bufferBytes;
    }
}
