package dev.capwire.bindings;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;
import org.agrona.BufferUtil;

/**
 * A readiness poller (epoll on Linux, kqueue on macOS, IOCP with AFD poll on Windows: whichever the loaded
 * library was built with) with its own wake-up handle. Owned by one thread, which registers,
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

    /** The system calls behind each operation, named in errors as the back end in use calls them. */
    private enum Calls {
        EPOLL("epoll_create", "epoll_ctl", "epoll_wait", "eventfd_write"),
        KQUEUE("kqueue", "kevent", "kevent", "kevent(EVFILT_USER)"),
        IOCP("CreateIoCompletionPort", "IOCTL_AFD_POLL", "GetQueuedCompletionStatusEx", "PostQueuedCompletionStatus");

        final String create, control, await, wake;

        Calls(String create, String control, String await, String wake) {
            this.create = create;
            this.control = control;
            this.await = await;
            this.wake = wake;
        }

        static final Calls IN_USE = switch (Native.pollerBackend()) {
            case Native.BACKEND_KQUEUE -> KQUEUE;
            case Native.BACKEND_IOCP -> IOCP;
            default -> EPOLL;
        };
    }

    public Poller(int capacity) throws NativeIoException {
        if (capacity < 1 || capacity > 4096) {
            throw new IllegalArgumentException("capacity must be 1..4096: " + capacity);
        }
        this.capacity = capacity;
        this.events = BufferUtil.allocateDirectAligned(capacity * Native.EVENT_BYTES, 64)
                .order(ByteOrder.nativeOrder());
        this.eventsAddress = BufferUtil.address(events);
        this.handle = Errors.check(Native.pollerCreate(), Calls.IN_USE.create, null);
    }

    public void add(long fd, int interest, long token) throws NativeIoException {
        requireOpen();
        Errors.check(Native.pollerAdd(handle, fd, interest, token), Calls.IN_USE.control + "(add)", "fd " + fd);
    }

    public void modify(long fd, int interest, long token) throws NativeIoException {
        requireOpen();
        Errors.check(Native.pollerModify(handle, fd, interest, token), Calls.IN_USE.control + "(modify)", "fd " + fd);
    }

    public void remove(long fd) throws NativeIoException {
        requireOpen();
        Errors.check(Native.pollerRemove(handle, fd), Calls.IN_USE.control + "(remove)", "fd " + fd);
    }

    /**
     * Waits up to {@code timeoutMs} (-1: until an event or a wake-up; 0: just look) and returns the number of
     * events, readable through {@link #token(int)} and {@link #ready(int)} until the next wait.
     */
    public int await(int timeoutMs) throws NativeIoException {
        requireOpen();
        int result = Native.pollerWait(handle, eventsAddress, capacity, timeoutMs);
        count = Errors.check(result, Calls.IN_USE.await, null);
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
            Errors.check(Native.pollerWake(handle), Calls.IN_USE.wake, null);
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
