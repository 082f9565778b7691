package dev.capwire.wire;

import java.nio.charset.StandardCharsets;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * The payload of an ERROR frame: u32 status code, u16 reason length, the reason (ASCII, for programs: stable
 * strings such as {@code capwire.rpc.maxInFlight} or {@code revoked: unserve}; may be empty), then the UTF-8
 * message for people to the end. Little-endian like the header.
 */
public final class ErrorPayload {
    public static final int CODE_OFFSET = 0;
    public static final int REASON_LENGTH_OFFSET = 4;
    public static final int REASON_OFFSET = 6;
    /** Reasons are short identifiers; a longer one is cut, so one ERROR never needs more than a frame. */
    public static final int MAX_REASON_BYTES = 256;

    private ErrorPayload() {
    }

    /** Writes the payload at {@code offset}; returns its length. */
    public static int encode(MutableDirectBuffer buffer, int offset, StatusCode code, String reason, String message) {
        byte[] why = reasonBytes(reason);
        byte[] text = message.getBytes(StandardCharsets.UTF_8);
        buffer.putInt(offset + CODE_OFFSET, code.wire(), FrameHeader.ORDER);
        buffer.putShort(offset + REASON_LENGTH_OFFSET, (short) why.length, FrameHeader.ORDER);
        buffer.putBytes(offset + REASON_OFFSET, why);
        buffer.putBytes(offset + REASON_OFFSET + why.length, text);
        return REASON_OFFSET + why.length + text.length;
    }

    /** Bytes needed to encode {@code reason} and {@code message}. */
    public static int encodedLength(String reason, String message) {
        return REASON_OFFSET + reasonBytes(reason).length + message.getBytes(StandardCharsets.UTF_8).length;
    }

    private static byte[] reasonBytes(String reason) {
        byte[] why = reason.getBytes(StandardCharsets.US_ASCII);
        return why.length <= MAX_REASON_BYTES ? why : java.util.Arrays.copyOf(why, MAX_REASON_BYTES);
    }

    /** The status of a payload; a payload too short to hold one reads as UNKNOWN. */
    public static StatusCode code(DirectBuffer buffer, int offset, int length) {
        return length < REASON_LENGTH_OFFSET ? StatusCode.UNKNOWN
                : StatusCode.fromWire(buffer.getInt(offset + CODE_OFFSET, FrameHeader.ORDER));
    }

    /** The reason; empty when the payload holds none or its length runs past the payload. */
    public static String reason(DirectBuffer buffer, int offset, int length) {
        int reasonLength = reasonLength(buffer, offset, length);
        return reasonLength <= 0 ? "" : buffer.getStringWithoutLengthAscii(offset + REASON_OFFSET, reasonLength);
    }

    /** The message for people; a malformed payload (see {@link #reason}) yields what follows the code. */
    public static String message(DirectBuffer buffer, int offset, int length) {
        int reasonLength = reasonLength(buffer, offset, length);
        int start = reasonLength < 0 ? REASON_LENGTH_OFFSET : REASON_OFFSET + reasonLength;
        if (length <= start) {
            return "";
        }
        byte[] text = new byte[length - start];
        buffer.getBytes(offset + start, text);
        return new String(text, StandardCharsets.UTF_8);
    }

    private static int reasonLength(DirectBuffer buffer, int offset, int length) {
        if (length < REASON_OFFSET) {
            return -1;
        }
        int reasonLength = buffer.getShort(offset + REASON_LENGTH_OFFSET, FrameHeader.ORDER) & 0xFFFF;
        return REASON_OFFSET + reasonLength <= length ? reasonLength : -1;
    }
}
