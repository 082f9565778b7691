package dev.capwire.handshake;

/**
 * The capability bits of the Hello and the Negotiated reply (docs/wire-protocol.md, "Negotiated values"). Bits
 * 0 to 15 are reserved for Capwire; applications define their own from bit 16 up. Both sides advertise what
 * they support, and the connection has what both have (server bits AND client bits).
 */
public final class Capabilities {
    /**
     * File descriptors may travel on this connection (Unix-domain sockets only). Without it in the negotiated
     * bits a sender refuses to pass fds, and a receiver that gets some closes them and ends the connection:
     * descriptors land only where both sides agreed to them.
     */
    public static final long FD_PASSING = 1L;

    /** What a client and a server advertise unless told otherwise. */
    public static final long DEFAULTS = FD_PASSING;

    private Capabilities() {
    }

    static boolean has(long bits, long capability) {
        return (bits & capability) == capability;
    }
}
