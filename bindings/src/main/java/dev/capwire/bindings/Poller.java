package dev.capwire.bindings;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;
import org.agrona.BufferUtil;

/**
 * A readiness poller (epoll on Linux) with its own wake-up handle. Owned by one thread, which registers,
 * waits and reads events; {@link #wake()} may be called from any thread.
 *
 * <p>Events are read in place from a direct buffer, so waiting allocates nothing. {@link #wake()} holds a use
 * count while it runs, so a wake racing with {@link #close()} never touches a freed poller.
 */
public final class Poller implements AutoCloseable {
    private final long handle;
    private final ByteBuffer events;
    private final long eventsAddress;
    private final int capacity;
    private final AtomicInteger wakersAndClosed = new AtomicInteger();
    private static final int CLOSED = 1;
    private static final int ONE_WAKER = 2;
    private int count;

    public Poller(int capacity) throws NativeIoException {
        if (capacity < 1 || capacity > 4096) {
            throw new IllegalArgumentException("capacity must be 1..4096: " + capacity);
        }
        this.capacity = capacity;
        this.events = BufferUtil.allocateDirectAligned(capacity * Native.EVENT_BYTES, 64)
                .order(ByteOrder.nativeOrder());
        this.eventsAddress = BufferUtil.address(events);
        this.handle = Errors.check(Native.pollerCreate(), "epoll_create", null);
    }

    public void add(int fd, int interest, long token) throws NativeIoException {
        requireOpen();
        Errors.check(Native.pollerAdd(handle, fd, interest, token), "epoll_ctl(add)", "fd " + fd);
    }

    public void modify(int fd, int interest, long token) throws NativeIoException {
        requireOpen();
        Errors.check(Native.pollerModify(handle, fd, interest, token), "epoll_ctl(modify)", "fd " + fd);
    }

    public void remove(int fd) throws NativeIoException {
        requireOpen();
        Errors.check(Native.pollerRemove(handle, fd), "epoll_ctl(remove)", "fd " + fd);
    }

    /**
     * Waits up to {@code timeoutMs} (-1: until an event or a wake-up; 0: just look) and returns the number of
     * events, readable through {@link #token(int)} and {@link #ready(int)} until the next wait.
     */
    public int await(int timeoutMs) throws NativeIoException {
        requireOpen();
        int result = Native.pollerWait(handle, eventsAddress, capacity, timeoutMs);
        count = Errors.check(result, "epoll_wait", null);
        return count;
    }

    /**
     * The owner's calls need no use count (the owner is also the one that closes), but after close the
     * native poller is freed and must not be handed to C again.
     */
    private void requireOpen() {
        if ((wakersAndClosed.get() & CLOSED) != 0) {
            throw new IllegalStateException("poller is closed");
        }
    }

    public long token(int index) {
        return events.getLong(checkIndex(index) * Native.EVENT_BYTES);
    }

    /** The {@code Native.READY_*} bits of event {@code index}. */
    public int ready(int index) {
        return events.getInt(checkIndex(index) * Native.EVENT_BYTES + 8);
    }

    private int checkIndex(int index) {
        if (index < 0 || index >= count) {
            throw new IndexOutOfBoundsException("event " + index + " of " + count);
        }
        return index;
    }

    /** Makes a blocked (or the next) {@link #await} return; safe from any thread, a no-op once closed. */
    public void wake() throws NativeIoException {
        for (;;) {
            int current = wakersAndClosed.get();
            if ((current & CLOSED) != 0) {
                return;
            }
            if (wakersAndClosed.compareAndSet(current, current + ONE_WAKER)) {
                break;
            }
        }
        try {
            Errors.check(Native.pollerWake(handle), "eventfd_write", null);
        } finally {
            release();
        }
    }

    private void release() {
        if (wakersAndClosed.addAndGet(-ONE_WAKER) == CLOSED) {
            Native.pollerClose(handle);
        }
    }

    /** Closes the poller; harmless when already closed. */
    @Override
    public void close() {
        for (;;) {
            int current = wakersAndClosed.get();
            if ((current & CLOSED) != 0) {
                return;
            }
            if (wakersAndClosed.compareAndSet(current, current | CLOSED)) {
                if (current == 0) {
                    Native.pollerClose(handle);
                }
                return;
            }
        }
    }
}
