package dev.capwire.transport;

import dev.capwire.bindings.Errno;
import dev.capwire.bindings.Native;
import dev.capwire.wire.FrameHeader;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.collections.IntArrayQueue;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One connection's bytes on their way into the socket, loop work only: frames the loop sends itself, and the
 * ring's records copied in behind them, written with one system call for many frames.
 *
 * <p>The loop never waits for a socket, so what it sends must always fit: staging takes a buffer from the
 * transport's pool when it is first needed, grows (doubling) when a frame does not fit, and gives its memory
 * back as soon as everything has been written, so an idle connection holds none. What bounds it is not its size but the connection's backpressure: past the high-water mark the
 * connection stops reading, so its handlers stop producing, until the peer has read enough (see
 * {@link OutboundPath}).
 *
 * <p>A frame that carries fds must leave with its own sendmsg, so that its fds arrive with its first byte. Such
 * a frame is staged like any other and its place remembered; writing stops at it and sends it alone.
 */
final class Staging {
    /** The result of {@link #writeTo} when the socket took everything. */
    static final int DRAINED = 0;
    /** The result of {@link #writeTo} when the socket is full and bytes remain. */
    static final int BLOCKED = 1;

    private final EventLoop loop; // lends staging buffers (its spares, or the transport's pool)
    private final UnsafeBuffer fdScratch; // the loop's: every send and receive of fds is on its thread
    private UnsafeBuffer buffer; // null while nothing is staged
    private boolean pooled; // whether buffer came from the pool (else grown past the pool's size)
    private boolean released;
    private int start;
    private int end;
    // Staged frames that carry fds: where each starts, and its fd numbers (owned here until sent or released).
    private final IntArrayQueue fdFrameOffsets = new IntArrayQueue();
    private final ArrayDeque<long[]> fdFrameNumbers = new ArrayDeque<>();

    Staging(EventLoop loop, UnsafeBuffer fdScratch) {
        this.loop = loop;
        this.fdScratch = fdScratch;
    }

    /** Bytes staged and not yet written. */
    int pending() {
        return end - start;
    }

    /** Room left without growing: ring records are copied in only while they fit. */
    int room() {
        return buffer == null ? loop.stagingBufferBytes() : buffer.capacity() - end;
    }

    boolean canTakeFds() {
        return end == start; // a ring record with fds is sent straight from the ring, once nothing precedes it
    }

    /** Appends a whole frame, growing if it must; {@code fds} (owned once it returns) may be null. */
    void append(byte type, long correlationId, int capId, int methodId, int flags, DirectBuffer payload, int offset,
            int length, long[] fds) {
        int frameLength = FrameHeader.HEADER_LENGTH + length;
        ensureRoom(frameLength);
        int fdCount = fds == null ? 0 : fds.length;
        FrameHeader.write(buffer, end, frameLength, type, flags, correlationId, capId, methodId, fdCount);
        if (length > 0) {
            buffer.putBytes(end + FrameHeader.HEADER_LENGTH, payload, offset, length);
        }
        // Owned only once the frame is in: a copy that throws (a payload shorter than its length) leaves the fds
        // with the caller, which closes them, and nothing here that would send them with the next frame.
        if (fdCount > 0) {
            fdFrameOffsets.addInt(end);
            fdFrameNumbers.addLast(fds);
        }
        end += frameLength;
    }

    /** Appends bytes copied from a ring record (never with fds); the caller checked {@link #room()}. */
    void appendRecord(DirectBuffer source, int index, int length) {
        if (buffer == null) {
            takeFromPool();
        }
        buffer.putBytes(end, source, index, length);
        end += length;
    }

    /**
     * Appends bytes that hold whole frames or the end of one (what is left of a frame whose first bytes and fds
     * went out with sendmsg, or a batch written on the loop's thread), growing if it must.
     */
    void appendBytes(DirectBuffer source, int index, int length) {
        ensureRoom(length);
        appendRecord(source, index, length);
    }

    /**
     * Writes what is staged into {@code fd}. Returns {@link #DRAINED}, {@link #BLOCKED}, or a negative errno of a
     * failed write (the connection is over then).
     */
    int writeTo(long fd) {
        while (end > start) {
            int fdFrameAt = fdFrameOffsets.isEmpty() ? -1 : fdFrameOffsets.peekInt();
            int written;
            if (fdFrameAt == start) {
                long[] fds = fdFrameNumbers.peekFirst();
                int frameLength = FrameHeader.frameLength(buffer, start);
                written = sendWithFds(fd, frameLength, fds);
                if (written > 0) {
                    fdFrameOffsets.pollInt();
                    Handles.closeAll(fdFrameNumbers.pollFirst()); // the peer has its own references now
                }
            } else {
                int until = fdFrameAt > start ? fdFrameAt : end;
                written = Native.write(fd, buffer.addressOffset() + start, until - start);
            }
            if (written == -Errno.EAGAIN) {
                return BLOCKED;
            }
            if (written < 0) {
                return written;
            }
            start += written;
        }
        start = 0;
        end = 0;
        giveBack();
        return DRAINED;
    }

    private int sendWithFds(long fd, int frameLength, long[] fds) {
        Handles.put(fdScratch, 0, fds, fds.length); // sendmsg reads the numbers from native memory
        return Native.sendFds(fd, buffer.addressOffset() + start, frameLength, fdScratch.addressOffset(), fds.length);
    }

    private void takeFromPool() {
        buffer = loop.takeStagingBuffer();
        pooled = true;
    }

    private void ensureRoom(int length) {
        if (buffer == null || end + length > buffer.capacity()) {
            makeRoom(length); // out of line: append stays small enough to be inlined where frames are staged
        }
    }

    private void makeRoom(int length) {
        if (buffer == null) {
            takeFromPool();
        }
        if (end + length <= buffer.capacity()) {
            return;
        }
        int needed = end - start + length;
        int capacity = buffer.capacity();
        while (capacity < needed) {
            capacity *= 2;
        }
        // A plain direct buffer (not an aligned slice), so that it can be freed the moment it drains.
        UnsafeBuffer grown = new UnsafeBuffer(ByteBuffer.allocateDirect(capacity));
        grown.putBytes(0, buffer, start, end - start);
        shiftFdOffsets(-start);
        giveBack();
        buffer = grown;
        pooled = false;
        end -= start;
        start = 0;
    }

    private void shiftFdOffsets(int by) {
        for (int i = 0, n = fdFrameOffsets.size(); i < n; i++) {
            fdFrameOffsets.addInt(fdFrameOffsets.pollInt() + by);
        }
    }

    /** Nothing staged: the memory goes back (a grown buffer is freed at once), so an idle connection holds none. */
    private void giveBack() {
        if (buffer == null) {
            return;
        }
        if (pooled) {
            loop.giveStagingBuffer(buffer);
        } else {
            BufferUtil.free(buffer.byteBuffer());
        }
        buffer = null;
    }

    /** At close: staged fds are closed and the memory given back; nothing may be staged afterwards. */
    void release() {
        while (!fdFrameNumbers.isEmpty()) {
            Handles.closeAll(fdFrameNumbers.pollFirst());
        }
        fdFrameOffsets.clear();
        giveBack();
        released = true;
        start = 0;
        end = 0;
    }

    boolean isReleased() {
        return released;
    }
}
