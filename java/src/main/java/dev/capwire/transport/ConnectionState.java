package dev.capwire.transport;

/**
 * Where a connection is in its life. It only ever moves forward, and only its loop moves it.
 */
enum ConnectionState {
    /** Frames flow both ways. */
    OPEN,
    /**
     * Our GOAWAY is queued behind what was sent before it: nothing new may be sent, what is queued still goes
     * out, and what arrives is read (replies to requests already failed are dropped).
     */
    CLOSING,
    /**
     * Everything up to our GOAWAY is with the kernel and our sending side is shut; we read and discard until the
     * peer closes too or the linger time passes, so that bytes it still sends do not turn our close into a reset
     * that could destroy the GOAWAY before the peer reads it.
     */
    LINGERING,
    /** The socket is closed and every buffer returned; nothing more happens. */
    CLOSED;

    /** Whether new frames may still be sent (only while open: nothing may follow our GOAWAY). */
    boolean acceptsSends() {
        return this == OPEN;
    }
}
