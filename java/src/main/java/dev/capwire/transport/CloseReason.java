package dev.capwire.transport;

import dev.capwire.bindings.Errno;

/** Why a connection ended: who ended it, and a human-readable detail (a GOAWAY reason, an errno, ...). */
public final class CloseReason {
    /** Who or what ended the connection. */
    public enum Kind {
        /** {@link Connection#close()} here: GOAWAY sent, queued frames flushed. */
        LOCAL_CLOSE,
        /** {@link Connection#abort()} here, or the transport stopped. */
        LOCAL_ABORT,
        /** The peer sent GOAWAY or closed its end. */
        REMOTE_CLOSE,
        /** The peer broke the protocol; a GOAWAY naming the violation was sent to it. */
        PROTOCOL_ERROR,
        /** A socket call failed (the detail names the call and errno). */
        IO_ERROR,
        /** Keepalive: nothing arrived from the peer for too long (a stopped or hung process). */
        PEER_UNRESPONSIVE
    }

    private final Kind kind;
    private final String detail;

    public CloseReason(Kind kind, String detail) {
        this.kind = kind;
        this.detail = detail;
    }

    public Kind kind() {
        return kind;
    }

    public String detail() {
        return detail;
    }

    /** Why a socket call that returned {@code -errno} ended the connection. */
    static CloseReason ioError(String call, int result) {
        int errno = -result;
        if (errno == Errno.ECONNRESET || errno == Errno.EPIPE) {
            // How a peer that died (or closed with unread data) looks from here: its end, not our failure.
            return new CloseReason(Kind.REMOTE_CLOSE, "the peer reset the connection (" + call + ": "
                    + Errno.name(errno) + ")");
        }
        return new CloseReason(Kind.IO_ERROR, call + " failed: " + Errno.name(errno));
    }

    @Override
    public String toString() {
        return kind + ": " + detail;
    }
}
