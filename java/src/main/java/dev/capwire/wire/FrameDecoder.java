package dev.capwire.wire;

import dev.capwire.wire.proto.GoAwayReason;
import java.util.function.LongConsumer;
import org.agrona.DirectBuffer;
import org.agrona.ExpandableArrayBuffer;
import org.agrona.collections.LongArrayQueue;
import org.agrona.collections.Long2ObjectHashMap;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Incremental, in-place frame decoder over a connection's receive buffer. The caller reads bytes into the
 * buffer at {@link #writeOffset()} (at most {@link #writableBytes()}), then calls
 * {@link #onBytesReceived(int)}; every complete frame is handed to the {@link FrameHandler} where it lies,
 * a partial frame is kept (moved to the front) until the rest arrives.
 *
 * <p>Each header is validated as soon as its 24 bytes are in, before any payload is awaited, so a bogus
 * length is rejected without waiting for (or allocating) the size it claims. The first violation is
 * reported once through {@link FrameHandler#onError} and decoding stops.
 *
 * <p>Fragmented messages are reassembled per (type, correlation id) into a heap buffer; everything else is
 * decoded without allocating. A thread that decodes keeps the buffer of the last message it reassembled (up to
 * {@link #KEPT_REASSEMBLY_BYTES}) for the next one: an event loop decodes for all its connections, so a stream of
 * large messages reuses one buffer per loop instead of growing a new one from 4 KiB for every message (for
 * 1 MiB messages that was nine copies and 3.3 MiB allocated per message), and an idle connection holds none.
 */
public final class FrameDecoder {
    /** Fragmented messages one connection may have in reassembly at once. */
    public static final int MAX_PARTIAL_MESSAGES = 1024;
    /** All unfinished reassemblies together may hold this many times maxMessageBytes. */
    public static final int PARTIAL_BYTES_FACTOR = 4;
    /**
     * File descriptors all unfinished reassemblies together may hold. Each message may carry up to 253, and a
     * peer that starts messages it never finishes would otherwise pin up to 1024 x 253 of this process's fds.
     */
    public static final int MAX_HELD_FDS = 1024;
    /** The largest reassembly buffer a decoding thread keeps for its next fragmented message. */
    public static final int KEPT_REASSEMBLY_BYTES = 4 << 20;
    private static final int FIRST_REASSEMBLY_BYTES = 4096;
    private static final ThreadLocal<ExpandableArrayBuffer> KEPT_REASSEMBLY = new ThreadLocal<>();

    private final UnsafeBuffer buffer;
    private int maxFrameBytes; // lowered once, to the limit both sides negotiated
    private final int maxMessageBytes;
    private final boolean fdsAllowed;
    private final LongArrayQueue arrivedFds;
    private final FrameHandler handler;
    private final FrameHeader header = new FrameHeader();
    private final ClaimedFds frameFds = new ClaimedFds();
    private final Long2ObjectHashMap<Reassembly> reassemblies = new Long2ObjectHashMap<>();
    private final UnsafeBuffer reassembledHeader = new UnsafeBuffer(new byte[FrameHeader.HEADER_LENGTH]);
    private final FrameHeader wholeMessage = new FrameHeader();
    private long partialBytes;
    private int partialFds;
    private GoAwayReason fragmentsRefusedFor;
    private String fragmentsRefusedWhy;
    private int readOffset;
    private int writeOffset;
    private boolean stopped;

    /**
     * @param buffer          the receive buffer; must hold at least one frame of {@code maxFrameBytes}
     * @param fdsAllowed      false on TCP, where a frame declaring fds is malformed
     * @param arrivedFds      fd numbers received with the bytes, in arrival order; frames claim from its head
     */
    public FrameDecoder(UnsafeBuffer buffer, int maxFrameBytes, int maxMessageBytes, boolean fdsAllowed,
            LongArrayQueue arrivedFds, FrameHandler handler) {
        if (buffer.capacity() < maxFrameBytes) {
            throw new IllegalArgumentException("receive buffer of " + buffer.capacity()
                    + " bytes cannot hold a frame of maxFrameBytes=" + maxFrameBytes);
        }
        this.buffer = buffer;
        this.maxFrameBytes = maxFrameBytes;
        this.maxMessageBytes = maxMessageBytes;
        this.fdsAllowed = fdsAllowed;
        this.arrivedFds = arrivedFds;
        this.handler = handler;
    }

    /** Where the bytes of an unfinished frame start in the buffer (see {@link #pendingBytes()}). */
    public int pendingOffset() {
        return readOffset;
    }

    /** Bytes received but not yet decoded: the start of a frame still incomplete. */
    public int pendingBytes() {
        return writeOffset - readOffset;
    }

    /**
     * Starts over with {@code bytes} undecoded bytes at the start of the buffer (0: none). A decoder whose buffer
     * is lent to many connections in turn keeps its unfinished frame elsewhere between reads and puts it back
     * here before the next.
     */
    public void restore(int bytes) {
        readOffset = 0;
        writeOffset = bytes;
    }

    /** Where the next received bytes go. */
    public int writeOffset() {
        return writeOffset;
    }

    /** How many bytes may be received at {@link #writeOffset()}. */
    public int writableBytes() {
        return buffer.capacity() - writeOffset;
    }

    public boolean isStopped() {
        return stopped;
    }

    /**
     * Refuses fragmented frames until {@link #allowFragments()}, with a {@code reason} GOAWAY naming
     * {@code why}: before a handshake completes, reassembly would let an unauthenticated peer make this side
     * hold up to 4 x maxMessageBytes.
     */
    public void refuseFragments(GoAwayReason reason, String why) {
        fragmentsRefusedFor = reason;
        fragmentsRefusedWhy = why;
    }

    public void allowFragments() {
        fragmentsRefusedFor = null;
    }

    /**
     * From now on a frame above {@code limit} bytes is {@code FRAME_TOO_LARGE}: the limit both sides agreed on,
     * below this side's own (docs/wire-protocol.md, "Negotiated values"). Never raises it.
     */
    public void limitFrameBytes(int limit) {
        maxFrameBytes = Math.min(maxFrameBytes, limit);
    }

    /** Stops decoding: later bytes are discarded as they arrive. */
    public void stop() {
        stopped = true;
    }

    /** Decodes what {@code count} newly received bytes complete. */
    public void onBytesReceived(int count) {
        if (stopped) {
            readOffset = 0; // after a violation the rest of the stream is read only to be discarded
            writeOffset = 0;
            return;
        }
        writeOffset += count;
        while (!stopped) {
            int available = writeOffset - readOffset;
            if (available < FrameHeader.HEADER_LENGTH) {
                break;
            }
            header.wrap(buffer, readOffset);
            if (!validate()) {
                stopped = true;
                break;
            }
            int frameLength = (int) header.frameLength();
            if (available < frameLength) {
                break;
            }
            deliver(frameLength);
            readOffset += frameLength;
        }
        if (stopped) {
            // What arrived with the violation is discarded too: the whole buffer is free for the reads that
            // follow (a connection lingering after its GOAWAY reads on, and a full buffer would leave it no room).
            readOffset = 0;
            writeOffset = 0;
            return;
        }
        compact();
    }

    private void compact() {
        if (readOffset == writeOffset) {
            readOffset = 0;
            writeOffset = 0;
        } else if (readOffset > 0 && buffer.capacity() - readOffset < maxFrameBytes) {
            // Only move the partial frame when the rest of it might not fit behind it.
            buffer.putBytes(0, buffer, readOffset, writeOffset - readOffset);
            writeOffset -= readOffset;
            readOffset = 0;
        }
    }

    private boolean validate() {
        FrameHeader.Violation violation = header.check(maxFrameBytes, fdsAllowed);
        return violation == null || fail(violation.reason(), violation.message());
    }

    private boolean fail(GoAwayReason reason, String message) {
        handler.onError(reason, message);
        return false;
    }

    private void deliver(int frameLength) {
        int fdCount = header.fdCount();
        if (fdCount == 0 && !header.moreFragments() && reassemblies.isEmpty()) {
            // The usual frame: whole, no fds, nothing in reassembly (most streams never fragment).
            frameFds.claim(arrivedFds, 0);
            handler.onFrame(header, buffer, readOffset + FrameHeader.HEADER_LENGTH,
                    frameLength - FrameHeader.HEADER_LENGTH, frameFds);
            return;
        }
        deliverSlowly(frameLength, fdCount);
    }

    /** A frame with fds, a fragment, or any frame while a fragmented message is being reassembled. */
    private void deliverSlowly(int frameLength, int fdCount) {
        if (fdCount > arrivedFds.size()) {
            stopped = true;
            handler.onError(GoAwayReason.FD_MISMATCH, FrameType.name(header.type()) + " frame declares "
                    + fdCount + " fds but only " + arrivedFds.size() + " arrived before it");
            return;
        }
        frameFds.claim(arrivedFds, fdCount);
        int payloadOffset = readOffset + FrameHeader.HEADER_LENGTH;
        int payloadLength = frameLength - FrameHeader.HEADER_LENGTH;
        long correlationId = header.correlationId();
        Reassembly reassembly = reassemblies.isEmpty() ? null : reassemblies.get(correlationId);
        if (reassembly == null && !header.moreFragments()) {
            handler.onFrame(header, buffer, payloadOffset, payloadLength, frameFds);
            return;
        }
        if (fragmentsRefusedFor != null) {
            stopped = true;
            handler.onError(fragmentsRefusedFor, "fragmented " + FrameType.name(header.type()) + " frame "
                    + fragmentsRefusedWhy);
            return;
        }
        if (reassembly == null) {
            if (correlationId == 0) {
                stopped = true; // fragments are reassembled by their id, so a fragmented message needs one
                handler.onError(GoAwayReason.PROTOCOL_ERROR, "fragmented " + FrameType.name(header.type())
                        + " frame with correlation id 0");
                return;
            }
            if (reassemblies.size() >= MAX_PARTIAL_MESSAGES) {
                stopped = true;
                handler.onError(GoAwayReason.PROTOCOL_ERROR, "more than " + MAX_PARTIAL_MESSAGES
                        + " fragmented messages in progress at once");
                return;
            }
            if (partialFds + fdCount > MAX_HELD_FDS) {
                stopped = true;
                handler.onError(GoAwayReason.PROTOCOL_ERROR, "unfinished fragmented messages would hold more than "
                        + MAX_HELD_FDS + " fds");
                return;
            }
            reassembly = new Reassembly(header, frameFds);
            reassemblies.put(correlationId, reassembly);
            partialFds += fdCount;
        } else if (reassembly.type != header.type()) {
            stopped = true;
            handler.onError(GoAwayReason.PROTOCOL_ERROR, FrameType.name(header.type())
                    + " frame interleaved into a fragmented " + FrameType.name(reassembly.type) + " message "
                    + "with the same correlation id " + correlationId);
            return;
        } else if (fdCount > 0) {
            stopped = true;
            handler.onError(GoAwayReason.FD_MISMATCH, "fds on a continuation fragment (correlation id "
                    + correlationId + "); fds ride only on the first fragment");
            return;
        }
        if ((long) reassembly.length + payloadLength > maxMessageBytes) {
            stopped = true;
            handler.onError(GoAwayReason.MESSAGE_TOO_LARGE, "fragmented message with correlation id "
                    + correlationId + " exceeds maxMessageBytes " + maxMessageBytes);
            return;
        }
        if (partialBytes + payloadLength > (long) PARTIAL_BYTES_FACTOR * maxMessageBytes) {
            stopped = true;
            handler.onError(GoAwayReason.MESSAGE_TOO_LARGE, "fragmented messages in progress hold more than "
                    + PARTIAL_BYTES_FACTOR + " x maxMessageBytes " + maxMessageBytes);
            return;
        }
        reassembly.append(buffer, payloadOffset, payloadLength);
        partialBytes += payloadLength;
        if (header.moreFragments()) {
            return;
        }
        reassemblies.remove(correlationId);
        partialBytes -= reassembly.length;
        partialFds -= reassembly.fds.count();
        FrameHeader.write(reassembledHeader, 0, FrameHeader.HEADER_LENGTH + reassembly.length, reassembly.type, 0,
                correlationId, reassembly.capId, reassembly.methodId, reassembly.fds.count());
        wholeMessage.wrap(reassembledHeader, 0);
        handler.onFrame(wholeMessage, reassembly.data, 0, reassembly.length, reassembly.fds);
        // The handler saw a view valid only during its call: the buffer is free for the next message.
        if (reassembly.data.capacity() <= KEPT_REASSEMBLY_BYTES) {
            KEPT_REASSEMBLY.set(reassembly.data);
        }
    }

    /** This thread's kept reassembly buffer, or a new one. */
    private static ExpandableArrayBuffer reassemblyBuffer() {
        ExpandableArrayBuffer kept = KEPT_REASSEMBLY.get();
        if (kept == null) {
            return new ExpandableArrayBuffer(FIRST_REASSEMBLY_BYTES);
        }
        KEPT_REASSEMBLY.set(null);
        return kept;
    }

    /**
     * Hands every fd the decoder still holds (the frame that failed, unfinished reassemblies) to
     * {@code closer}; call when the connection ends.
     */
    public void releaseFds(LongConsumer closer) {
        frameFds.releaseAll(closer);
        for (Reassembly reassembly : reassemblies.values()) {
            reassembly.fds.releaseAll(closer);
        }
        reassemblies.clear();
    }

    /** A fragmented message being put back together. */
    private static final class Reassembly {
        final byte type;
        final int capId;
        final int methodId;
        final ExpandableArrayBuffer data = reassemblyBuffer();
        final ClaimedFds fds = new ClaimedFds();
        int length;

        Reassembly(FrameHeader first, ClaimedFds firstFds) {
            this.type = first.type();
            this.capId = first.capId();
            this.methodId = first.methodId();
            fds.moveFrom(firstFds);
        }

        void append(DirectBuffer source, int offset, int count) {
            data.putBytes(length, source, offset, count);
            length += count;
        }
    }
}
