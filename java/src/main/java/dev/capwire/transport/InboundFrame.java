package dev.capwire.transport;

import dev.capwire.bindings.FileDescriptor;
import org.agrona.DirectBuffer;
import dev.capwire.wire.ClaimedFds;

/**
 * A received frame as the listener sees it: a reused view over the connection's receive buffer, valid only
 * during {@link FrameListener#onFrame}. The fds that belong to the frame are the listener's once it calls
 * {@link #takeFds()}; fds not taken are closed when the callback returns.
 */
public final class InboundFrame {
    private static final FileDescriptor[] NO_FDS = new FileDescriptor[0];

    private byte type;
    private long correlationId;
    private int capId;
    private int methodId;
    private DirectBuffer buffer;
    private int payloadOffset;
    private int payloadLength;
    private ClaimedFds fds;
    /** The fds of a detached copy (see {@link #detach()}); null in the loop's reused view. */
    private FileDescriptor[] ownFds;

    void set(byte type, long correlationId, int capId, int methodId, DirectBuffer buffer, int payloadOffset,
            int payloadLength, ClaimedFds fds) {
        this.type = type;
        this.correlationId = correlationId;
        this.capId = capId;
        this.methodId = methodId;
        this.buffer = buffer;
        this.payloadOffset = payloadOffset;
        this.payloadLength = payloadLength;
        this.fds = fds;
    }

    /** The frame type (see {@code dev.capwire.wire.FrameType}). */
    public byte type() {
        return type;
    }

    public long correlationId() {
        return correlationId;
    }

    public int capId() {
        return capId;
    }

    public int methodId() {
        return methodId;
    }

    public DirectBuffer buffer() {
        return buffer;
    }

    public int payloadOffset() {
        return payloadOffset;
    }

    public int payloadLength() {
        return payloadLength;
    }

    /** A copy of the payload bytes. */
    public byte[] payloadBytes() {
        byte[] bytes = new byte[payloadLength];
        buffer.getBytes(payloadOffset, bytes);
        return bytes;
    }

    /** The fds that came with this frame and have not been taken. */
    public int fdCount() {
        return ownFds != null ? ownFds.length : fds.count();
    }

    /** Takes ownership of this frame's fds (the caller must close them); a second call returns none. */
    public FileDescriptor[] takeFds() {
        if (ownFds != null) {
            FileDescriptor[] taken = ownFds;
            ownFds = NO_FDS;
            return taken;
        }
        long[] numbers = fds.takeAll();
        FileDescriptor[] taken = new FileDescriptor[numbers.length];
        for (int i = 0; i < numbers.length; i++) {
            taken[i] = FileDescriptor.adopt(numbers[i]);
        }
        return taken;
    }

    /**
     * A copy of this view that outlives the callback, for a handler that runs later on another thread: the
     * payload is copied to the heap and the fds move into the copy (this view then holds none, so the loop
     * closes nothing of theirs). Only listeners that leave the loop pay for the copy; the loop's own view is
     * reused and allocates nothing. The copy's untaken fds are closed by {@link #closeUntakenFds()}.
     */
    InboundFrame detach() {
        InboundFrame copy = new InboundFrame();
        byte[] bytes = new byte[payloadLength];
        buffer.getBytes(payloadOffset, bytes);
        copy.set(type, correlationId, capId, methodId, new org.agrona.concurrent.UnsafeBuffer(bytes), 0,
                payloadLength, null);
        copy.ownFds = fdCount() == 0 ? NO_FDS : takeFds();
        return copy;
    }

    /** A detached copy's counterpart of what the loop does after each callback: closes the fds not taken. */
    void closeUntakenFds() {
        for (FileDescriptor fd : takeFds()) {
            fd.close();
        }
    }
}
