package dev.capwire.wire;

import dev.capwire.wire.proto.GoAwayReason;
import java.nio.ByteOrder;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * The fixed 24-byte, little-endian header that starts every frame (docs/wire-protocol.md), read from a buffer by
 * {@link #wrap} (reusable: no allocation per frame) and written by {@link #write}:
 *
 * <pre>
 *  0  u32 length          whole frame, header included
 *  4  u8  version         1
 *  5  u8  type            {@link FrameType}
 *  6  u16 flags           {@link #FLAG_MORE_FRAGMENTS}; other bits reserved, must be 0
 *  8  u64 correlationId   pairs a reply with its request; 0 where unused
 * 16  u32 capId           capability id
 * 20  u16 methodId        method ordinal within the cap
 * 22  u16 fdCount         file descriptors that belong to this frame
 * </pre>
 */
public final class FrameHeader {
    public static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;
    public static final int HEADER_LENGTH = 24;
    public static final int VERSION = 1;

    public static final int LENGTH_OFFSET = 0;
    public static final int VERSION_OFFSET = 4;
    public static final int TYPE_OFFSET = 5;
    public static final int FLAGS_OFFSET = 6;
    public static final int CORRELATION_ID_OFFSET = 8;
    public static final int CAP_ID_OFFSET = 16;
    public static final int METHOD_ID_OFFSET = 20;
    public static final int FD_COUNT_OFFSET = 22;

    /** The payload continues in the next frame of the same type and correlation id. */
    public static final int FLAG_MORE_FRAGMENTS = 0x0001;
    public static final int KNOWN_FLAGS = FLAG_MORE_FRAGMENTS;

    /** The most fds one frame may carry: the kernel's limit for one SCM_RIGHTS message. */
    public static final int MAX_FDS = 253;

    // The header's three 8-byte words, read once by wrap: every field below is a shift of one of them.
    private long lengthVersionTypeFlags; // bytes 0-7
    private long correlationId; // bytes 8-15
    private long capMethodFds; // bytes 16-23

    /**
     * Reads the 24 header bytes at {@code offset} (they must all be there) with three 8-byte reads; the getters
     * return what was read, so a later change to those bytes is seen only by wrapping again.
     */
    public FrameHeader wrap(DirectBuffer buffer, int offset) {
        lengthVersionTypeFlags = buffer.getLong(offset + LENGTH_OFFSET, ORDER);
        correlationId = buffer.getLong(offset + CORRELATION_ID_OFFSET, ORDER);
        capMethodFds = buffer.getLong(offset + CAP_ID_OFFSET, ORDER);
        return this;
    }

    /** The length field as an unsigned value (a long, so a huge claim is never mistaken for a small one). */
    public long frameLength() {
        return lengthVersionTypeFlags & 0xFFFF_FFFFL;
    }

    public int version() {
        return (int) (lengthVersionTypeFlags >>> 32) & 0xFF;
    }

    public byte type() {
        return (byte) (lengthVersionTypeFlags >>> 40);
    }

    public int flags() {
        return (int) (lengthVersionTypeFlags >>> 48);
    }

    public boolean moreFragments() {
        return (flags() & FLAG_MORE_FRAGMENTS) != 0;
    }

    public long correlationId() {
        return correlationId;
    }

    public int capId() {
        return (int) capMethodFds;
    }

    public int methodId() {
        return (int) (capMethodFds >>> 32) & 0xFFFF;
    }

    public int fdCount() {
        return (int) (capMethodFds >>> 48);
    }

    /** What is wrong with a header, and the GOAWAY reason that says so. */
    public record Violation(GoAwayReason reason, String message) {
    }

    /**
     * Checks the wrapped header against what any receiver requires (docs/wire-protocol.md, "Frame header"):
     * the length covers the header and stays within {@code maxFrameBytes}, the version is ours, the type is
     * known, no reserved flag is set, and fds are declared only where they may travel and never more than
     * {@link #MAX_FDS}. Returns null for a good header; allocates only for a bad one.
     */
    public Violation check(long maxFrameBytes, boolean fdsAllowed) {
        // One test for the usual header: version 1, no reserved flag, a known type (1 to 10), and then the
        // length and the fd count; anything else is described by the slow path.
        int versionTypeFlags = (int) (lengthVersionTypeFlags >>> 32);
        long length = frameLength();
        int fdCount = fdCount();
        if ((versionTypeFlags & ~(KNOWN_FLAGS << 16 | 0xFF00)) == VERSION
                && FrameType.isKnown(type()) && length >= HEADER_LENGTH && length <= maxFrameBytes
                && fdCount <= (fdsAllowed ? MAX_FDS : 0)) {
            return null;
        }
        return violation(maxFrameBytes, fdsAllowed);
    }

    private Violation violation(long maxFrameBytes, boolean fdsAllowed) {
        long length = frameLength();
        if (length < HEADER_LENGTH) {
            return new Violation(GoAwayReason.MALFORMED_FRAME, "frame length " + length + " is below the "
                    + HEADER_LENGTH + "-byte header");
        }
        if (length > maxFrameBytes) {
            return new Violation(GoAwayReason.FRAME_TOO_LARGE, "frame length " + length + " exceeds maxFrameBytes "
                    + maxFrameBytes);
        }
        if (version() != VERSION) {
            return new Violation(GoAwayReason.UNSUPPORTED_VERSION, "frame version " + version()
                    + " (this side speaks " + VERSION + ")");
        }
        if (!FrameType.isKnown(type())) {
            return new Violation(GoAwayReason.UNKNOWN_FRAME_TYPE, "frame type " + (type() & 0xFF));
        }
        if ((flags() & ~KNOWN_FLAGS) != 0) {
            return new Violation(GoAwayReason.MALFORMED_FRAME, "reserved flag bits set: 0x"
                    + Integer.toHexString(flags()));
        }
        int fdCount = fdCount();
        if (fdCount > 0 && !fdsAllowed) {
            return new Violation(GoAwayReason.MALFORMED_FRAME, "frame declares " + fdCount
                    + " fds where none may travel");
        }
        if (fdCount > MAX_FDS) {
            return new Violation(GoAwayReason.MALFORMED_FRAME, "frame declares " + fdCount + " fds (at most "
                    + MAX_FDS + ")");
        }
        return null;
    }

    /** Writes a whole header at {@code index}. */
    public static void write(MutableDirectBuffer buffer, int index, int frameLength, byte type, int flags,
            long correlationId, int capId, int methodId, int fdCount) {
        // Three 8-byte writes instead of eight field by field (the fields' layout is the class comment's).
        buffer.putLong(index + LENGTH_OFFSET, (frameLength & 0xFFFF_FFFFL) | (long) VERSION << 32
                | (type & 0xFFL) << 40 | (flags & 0xFFFFL) << 48, ORDER);
        buffer.putLong(index + CORRELATION_ID_OFFSET, correlationId, ORDER);
        buffer.putLong(index + CAP_ID_OFFSET, (capId & 0xFFFF_FFFFL) | (methodId & 0xFFFFL) << 32
                | (fdCount & 0xFFFFL) << 48, ORDER);
    }

    /** The length field of the header at {@code index} (for frames this side wrote: known to fit an int). */
    public static int frameLength(DirectBuffer buffer, int index) {
        return buffer.getInt(index + LENGTH_OFFSET, ORDER);
    }
}
