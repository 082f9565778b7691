package dev.capwire.wire;

import dev.capwire.wire.proto.GoAwayReason;
import java.nio.ByteOrder;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * Flyweight over the fixed 24-byte, little-endian header that starts every frame (docs/wire-protocol.md):
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

    private DirectBuffer buffer;
    private int offset;

    public FrameHeader wrap(DirectBuffer buffer, int offset) {
        this.buffer = buffer;
        this.offset = offset;
        return this;
    }

    /** The length field as an unsigned value (a long, so a huge claim is never mistaken for a small one). */
    public long frameLength() {
        return buffer.getInt(offset + LENGTH_OFFSET, ORDER) & 0xFFFF_FFFFL;
    }

    public int version() {
        return buffer.getByte(offset + VERSION_OFFSET) & 0xFF;
    }

    public byte type() {
        return buffer.getByte(offset + TYPE_OFFSET);
    }

    public int flags() {
        return buffer.getShort(offset + FLAGS_OFFSET, ORDER) & 0xFFFF;
    }

    public boolean moreFragments() {
        return (flags() & FLAG_MORE_FRAGMENTS) != 0;
    }

    public long correlationId() {
        return buffer.getLong(offset + CORRELATION_ID_OFFSET, ORDER);
    }

    public int capId() {
        return buffer.getInt(offset + CAP_ID_OFFSET, ORDER);
    }

    public int methodId() {
        return buffer.getShort(offset + METHOD_ID_OFFSET, ORDER) & 0xFFFF;
    }

    public int fdCount() {
        return buffer.getShort(offset + FD_COUNT_OFFSET, ORDER) & 0xFFFF;
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
        buffer.putInt(index + LENGTH_OFFSET, frameLength, ORDER);
        buffer.putByte(index + VERSION_OFFSET, (byte) VERSION);
        buffer.putByte(index + TYPE_OFFSET, type);
        buffer.putShort(index + FLAGS_OFFSET, (short) flags, ORDER);
        buffer.putLong(index + CORRELATION_ID_OFFSET, correlationId, ORDER);
        buffer.putInt(index + CAP_ID_OFFSET, capId, ORDER);
        buffer.putShort(index + METHOD_ID_OFFSET, (short) methodId, ORDER);
        buffer.putShort(index + FD_COUNT_OFFSET, (short) fdCount, ORDER);
    }

    /** The length field of the header at {@code index} (for frames this side wrote: known to fit an int). */
    public static int frameLength(DirectBuffer buffer, int index) {
        return buffer.getInt(index + LENGTH_OFFSET, ORDER);
    }
}
