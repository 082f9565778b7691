package dev.capwire.wire;

import java.nio.charset.StandardCharsets;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/** The payload of an ERROR frame: u32 status code (little-endian), then the UTF-8 message to the end. */
public final class ErrorPayload {
    public static final int CODE_OFFSET = 0;
    public static final int MESSAGE_OFFSET = 4;

    private ErrorPayload() {
    }

    /** Writes code and message at {@code offset}; returns the payload length. */
    public static int encode(MutableDirectBuffer buffer, int offset, StatusCode code, String message) {
        byte[] text = message.getBytes(StandardCharsets.UTF_8);
        buffer.putInt(offset + CODE_OFFSET, code.wire(), FrameHeader.ORDER);
        buffer.putBytes(offset + MESSAGE_OFFSET, text);
        return MESSAGE_OFFSET + text.length;
    }

    /** Bytes needed to encode {@code message}. */
    public static int encodedLength(String message) {
        return MESSAGE_OFFSET + message.getBytes(StandardCharsets.UTF_8).length;
    }

    /** The status of a payload; a payload too short to hold one reads as UNKNOWN. */
    public static StatusCode code(DirectBuffer buffer, int offset, int length) {
        return length < MESSAGE_OFFSET ? StatusCode.UNKNOWN
                : StatusCode.fromWire(buffer.getInt(offset + CODE_OFFSET, FrameHeader.ORDER));
    }

    public static String message(DirectBuffer buffer, int offset, int length) {
        if (length <= MESSAGE_OFFSET) {
            return "";
        }
        byte[] text = new byte[length - MESSAGE_OFFSET];
        buffer.getBytes(offset + MESSAGE_OFFSET, text);
        return new String(text, StandardCharsets.UTF_8);
    }
}
