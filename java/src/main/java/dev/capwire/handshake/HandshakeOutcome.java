package dev.capwire.handshake;

import dev.capwire.bindings.PeerCredentials;
import dev.capwire.transport.Endpoint;
import dev.capwire.wire.proto.RefusedCode;

/** How one connection's handshake ended, as a server saw it: for operators to log or count. */
public final class HandshakeOutcome {
    /** Accepted, refused with a code (the client got a Refused reply), or failed without a reply. */
    public enum Result { ACCEPTED, REFUSED, FAILED }

    private final Result result;
    private final RefusedCode code;
    private final String reason;
    private final String service;
    private final PeerCredentials credentials;
    private final Endpoint endpoint;
    private final long durationNanos;

    HandshakeOutcome(Result result, RefusedCode code, String reason, String service, PeerCredentials credentials,
            Endpoint endpoint, long durationNanos) {
        this.result = result;
        this.code = code;
        this.reason = reason;
        this.service = service;
        this.credentials = credentials;
        this.endpoint = endpoint;
        this.durationNanos = durationNanos;
    }

    public Result result() {
        return result;
    }

    public boolean accepted() {
        return result == Result.ACCEPTED;
    }

    /** The refusal code when {@link Result#REFUSED}, else null. */
    public RefusedCode code() {
        return code;
    }

    /** What happened, in words; never contains a secret. */
    public String reason() {
        return reason;
    }

    /** The service the Hello asked for, or null when none arrived. */
    public String service() {
        return service;
    }

    /** Kernel-verified credentials of the peer; null on TCP. */
    public PeerCredentials credentials() {
        return credentials;
    }

    public Endpoint endpoint() {
        return endpoint;
    }

    /** From the accept to the outcome. */
    public long durationNanos() {
        return durationNanos;
    }

    @Override
    public String toString() {
        return result + (code != null ? " " + code : "") + " service=" + service + " peer=" + credentials + " on "
                + endpoint + " after " + durationNanos / 1000 + " us: " + reason;
    }
}
