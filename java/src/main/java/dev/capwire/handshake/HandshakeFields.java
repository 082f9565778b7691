package dev.capwire.handshake;

import dev.capwire.bindings.PeerCredentials;
import dev.capwire.wire.proto.Negotiated;

/**
 * The checks and clamps on the handshake's {@code uint32} fields (docs/wire-protocol.md, "Handshake"), for
 * both sides. Protobuf hands a uint32 to Java as an int, so a value from 2^31 up arrives negative; every
 * comparison here widens it with {@link #unsigned} first, and every number a message shows is the one that
 * was on the wire.
 */
final class HandshakeFields {
    /**
     * The longest keepalive interval this client runs (about 24.8 days): what starts keepalive after the
     * handshake reads the field as a Java int, where a longer interval is negative and would turn it off.
     * Pinging sooner than the server would is harmless: any byte counts as life.
     */
    static final long MAX_RUNNABLE_KEEPALIVE_MS = Integer.MAX_VALUE;

    private HandshakeFields() {
    }

    static long unsigned(int field) {
        return Integer.toUnsignedLong(field);
    }

    /** Refuses a value a uint32 field cannot carry, rather than let a cast to int cut it to its low bits. */
    static void requireUint32(String name, long value) {
        if (value < 0 || value > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException(name + " must be 0 to 4294967295, a uint32 on the wire (got " + value
                    + ")");
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // The server's checks of a Hello
    // ---------------------------------------------------------------------------------------------------

    /** Null when {@code 1 <= min <= max} and the range overlaps the server's, else the refusal's reason. */
    static String protocolRangeRefusal(int clientMin, int clientMax, int serverMin, int serverMax) {
        long min = unsigned(clientMin);
        long max = unsigned(clientMax);
        if (min >= 1 && min <= max && max >= serverMin && min <= serverMax) {
            return null;
        }
        return "client protocol range [" + min + ", " + max + "] does not overlap the server's [" + serverMin + ", "
                + serverMax + "]";
    }

    /** The highest version both ranges hold, once {@link #protocolRangeRefusal} found they overlap. */
    static int chosenProtocol(int clientMax, int serverMax) {
        return (int) Math.min(unsigned(clientMax), serverMax);
    }

    /** Null when max_frame_bytes is 0 (no limit of the client's own) or at least the minimum, else why not. */
    static String badMaxFrameBytes(int field) {
        if (field != 0 && unsigned(field) < HandshakeServer.MIN_FRAME_BYTES) {
            return "max_frame_bytes must be 0 or at least " + HandshakeServer.MIN_FRAME_BYTES + " (got "
                    + unsigned(field) + ")";
        }
        return null;
    }

    /** The smaller of both sides' limits; a client's 0 leaves the server's. */
    static int negotiatedMaxFrameBytes(int clientField, int serverMaxFrameBytes) {
        return clientField == 0 ? serverMaxFrameBytes : (int) Math.min(unsigned(clientField), serverMaxFrameBytes);
    }

    /** Null when the claimed pid is 0 (says nothing), the kernel does not know, or they agree; else why not. */
    static String claimedPidRefusal(int claimedPid, PeerCredentials credentials) {
        if (claimedPid == 0 || credentials == null || credentials.pid().isEmpty()
                || credentials.pid().getAsLong() == unsigned(claimedPid)) {
            return null;
        }
        return "claimed pid " + unsigned(claimedPid) + " is not the connecting process (the kernel says "
                + credentials.pid().getAsLong() + ")";
    }

    // ---------------------------------------------------------------------------------------------------
    // The client's checks of a Negotiated
    // ---------------------------------------------------------------------------------------------------

    /**
     * Null when the client can use {@code negotiated}: a protocol version inside the range it offered, and a
     * max frame size from the minimum up to its own limit. Else why not.
     */
    static String unusableNegotiated(Negotiated negotiated, int clientMin, int clientMax, int clientMaxFrameBytes) {
        long protocol = unsigned(negotiated.getProtocolVersion());
        if (protocol < unsigned(clientMin) || protocol > unsigned(clientMax)) {
            return "the server negotiated protocol version " + protocol + ", outside the client's range ["
                    + unsigned(clientMin) + ", " + unsigned(clientMax) + "]";
        }
        long maxFrame = unsigned(negotiated.getMaxFrameBytes());
        if (maxFrame < HandshakeServer.MIN_FRAME_BYTES || maxFrame > clientMaxFrameBytes) {
            return "the server negotiated an unusable max frame size of " + maxFrame;
        }
        return null;
    }

    /**
     * {@code negotiated}, or a copy whose keepalive interval is cut to {@link #MAX_RUNNABLE_KEEPALIVE_MS}, with
     * a warning saying so, when the server granted a longer one.
     */
    static Negotiated withRunnableKeepalive(Negotiated negotiated) {
        long granted = unsigned(negotiated.getKeepaliveIntervalMs());
        if (granted <= MAX_RUNNABLE_KEEPALIVE_MS) {
            return negotiated;
        }
        return negotiated.toBuilder().setKeepaliveIntervalMs((int) MAX_RUNNABLE_KEEPALIVE_MS)
                .addWarnings("the client runs the granted keepalive interval of " + granted + " ms as "
                        + MAX_RUNNABLE_KEEPALIVE_MS + " ms, its longest")
                .build();
    }
}
