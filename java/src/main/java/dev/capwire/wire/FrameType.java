package dev.capwire.wire;

/** Frame type bytes (docs/wire-protocol.md, "Frame types"); 11 to 255 are reserved. */
public final class FrameType {
    public static final byte HELLO = 1;
    public static final byte HELLO_REPLY = 2;
    public static final byte REQUEST = 3;
    public static final byte RESPONSE = 4;
    public static final byte ERROR = 5;
    public static final byte NOTIFY = 6;
    public static final byte PING = 7;
    public static final byte PONG = 8;
    public static final byte GOAWAY = 9;
    public static final byte CANCEL = 10;

    private static final String[] NAMES = {
        null, "HELLO", "HELLO_REPLY", "REQUEST", "RESPONSE", "ERROR", "NOTIFY", "PING", "PONG", "GOAWAY", "CANCEL"
    };

    private FrameType() {
    }

    public static boolean isKnown(byte type) {
        return type >= HELLO && type <= CANCEL;
    }

    /** The type's name, or {@code UNKNOWN(n)}. */
    public static String name(byte type) {
        return isKnown(type) ? NAMES[type] : "UNKNOWN(" + (type & 0xFF) + ")";
    }
}
