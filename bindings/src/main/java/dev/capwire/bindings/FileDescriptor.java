package dev.capwire.bindings;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Owns one fd and closes it exactly once.
 *
 * <p>Every call made through this object holds a use count for its duration, and {@link #close()} only
 * marks the descriptor closed; the number itself is released by whichever of close or the last in-flight
 * call comes last. So a call can never run on a number that was closed under it and already handed to
 * someone else by the kernel, and after close every method fails with {@link ClosedException}.
 */
public final class FileDescriptor implements AutoCloseable {
    private static final int CLOSED = 1;
    private static final int ONE_USE = 2;

    private final long fd; // an fd on Unix, a SOCKET or HANDLE on Windows: 64 bits, never truncated
    private final AtomicInteger state = new AtomicInteger();

    private FileDescriptor(long fd) {
        if (fd < 0) {
            throw new IllegalArgumentException("not an fd: " + fd);
        }
        this.fd = fd;
    }

    /** Takes ownership of a raw fd number or Windows handle (for example one received from a peer). */
    public static FileDescriptor adopt(long fd) {
        return new FileDescriptor(fd);
    }

    /** A pipe: index 0 is the read end, index 1 the write end; both close-on-exec. */
    public static FileDescriptor[] pipe() throws NativeIoException {
        ByteBuffer scratch = Scratch.buffer();
        Errors.check(Native.pipe(Scratch.address()), "pipe", null);
        return new FileDescriptor[] {adopt(scratch.getLong(0)), adopt(scratch.getLong(Native.HANDLE_BYTES))};
    }

    /** Opens a file read-only, close-on-exec. */
    public static FileDescriptor openRead(Path path) throws NativeIoException {
        return open(path, false);
    }

    /** Opens a file write-only, created (mode 0600) or truncated, close-on-exec. */
    public static FileDescriptor openWrite(Path path) throws NativeIoException {
        return open(path, true);
    }

    private static FileDescriptor open(Path path, boolean write) throws NativeIoException {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        int length = Scratch.put(bytes);
        return adopt(Errors.check(Native.open(Scratch.address(), length, write), "open", path));
    }

    /**
     * Marks the fd in use and returns its number; pair every call with {@link #release()}. While in use,
     * the number cannot be closed.
     */
    public long acquire() throws ClosedException {
        for (;;) {
            int current = state.get();
            if ((current & CLOSED) != 0) {
                throw new ClosedException(fd);
            }
            if (state.compareAndSet(current, current + ONE_USE)) {
                return fd;
            }
        }
    }

    public void release() {
        if (state.addAndGet(-ONE_USE) == CLOSED) {
            Native.close(fd);
        }
    }

    public boolean isOpen() {
        return (state.get() & CLOSED) == 0;
    }

    /** Closes the fd; harmless when already closed. In-flight calls finish first. */
    @Override
    public void close() {
        for (;;) {
            int current = state.get();
            if ((current & CLOSED) != 0) {
                return;
            }
            if (state.compareAndSet(current, current | CLOSED)) {
                if (current == 0) {
                    Native.close(fd);
                }
                return;
            }
        }
    }

    /** Reads into the buffer's remaining space; returns bytes read, -1 at end of input, 0 if it would block. */
    public int read(ByteBuffer buffer) throws NativeIoException {
        long number = acquire();
        try {
            int result = Native.read(number, Scratch.addressOf(buffer) + buffer.position(), buffer.remaining());
            if (result == -Errno.EAGAIN) {
                return 0;
            }
            if (Errors.check(result, "read", this) == 0 && buffer.hasRemaining()) {
                return -1;
            }
            buffer.position(buffer.position() + result);
            return result;
        } finally {
            release();
        }
    }

    /** Writes the buffer's remaining bytes; returns bytes written, 0 if it would block. */
    public int write(ByteBuffer buffer) throws NativeIoException {
        long number = acquire();
        try {
            int result = Native.write(number, Scratch.addressOf(buffer) + buffer.position(), buffer.remaining());
            if (result == -Errno.EAGAIN) {
                return 0;
            }
            Errors.check(result, "write", this);
            buffer.position(buffer.position() + result);
            return result;
        } finally {
            release();
        }
    }

    /** Blocks until readable (or hung up); false on timeout. */
    public boolean awaitReadable(long timeoutMs) throws NativeIoException {
        return await(Native.INTEREST_READ, timeoutMs);
    }

    /** Blocks until writable (or hung up); false on timeout. */
    public boolean awaitWritable(long timeoutMs) throws NativeIoException {
        return await(Native.INTEREST_WRITE, timeoutMs);
    }

    private boolean await(int interest, long timeoutMs) throws NativeIoException {
        long number = acquire();
        try {
            int timeout = (int) Math.min(Integer.MAX_VALUE, Math.max(-1, timeoutMs));
            return Errors.check(Native.waitReady(number, interest, timeout), "poll", this) != 0;
        } finally {
            release();
        }
    }

    /** Whether the fd is close-on-exec (never inherited by a child process). */
    public boolean isCloseOnExec() throws NativeIoException {
        long number = acquire();
        try {
            return (Errors.check(Native.fdFlags(number), "fcntl", this) & 1) != 0;
        } finally {
            release();
        }
    }

    @Override
    public String toString() {
        return "fd " + fd + (isOpen() ? "" : " (closed)");
    }

    /** Thrown by any use of a {@link FileDescriptor} after {@link #close()}. */
    public static final class ClosedException extends NativeIoException {
        private static final long serialVersionUID = 1L;

        ClosedException(long fd) {
            super("use", Errno.EBADF, "fd " + fd + ", already closed");
        }
    }
}
