package dev.capwire.handshake;

import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.Refused;
import dev.capwire.wire.proto.RefusedCode;
import java.util.Map;

/** The server answered the Hello with Refused: its code, reason, retry hint and protocol range. */
public final class HandshakeRefusedException extends StatusException {
    private static final long serialVersionUID = 1L;

    private final transient Refused refused;

    HandshakeRefusedException(Refused refused) {
        super(statusOf(refused.getCode()), describe(refused));
        this.refused = refused;
    }

    private static String describe(Refused refused) {
        // The status code already starts the message: name the Refused code only where it says more.
        String code = statusOf(refused.getCode()).name().equals(refused.getCode().name()) ? ""
                : ", " + refused.getCode();
        long retryAfterMs = HandshakeFields.unsigned(refused.getRetryAfterMs());
        return "handshake refused" + code + ": " + refused.getReason()
                + (retryAfterMs > 0 ? " (retry after " + retryAfterMs + " ms)" : "");
    }

    /** The status a call would have failed with, for callers that only look at statuses. */
    static StatusCode statusOf(RefusedCode code) {
        switch (code) {
            case VERSION_UNSUPPORTED:
            case VERSION_BLOCKED:
                return StatusCode.FAILED_PRECONDITION;
            case PEER_REJECTED:
                return StatusCode.INVALID_ARGUMENT;
            case RATE_LIMITED:
            case RESOURCE_EXHAUSTED:
                return StatusCode.RESOURCE_EXHAUSTED;
            case SERVICE_UNKNOWN:
                return StatusCode.NOT_FOUND;
            case UNAUTHENTICATED:
                return StatusCode.UNAUTHENTICATED;
            case PERMISSION_DENIED:
                return StatusCode.PERMISSION_DENIED;
            case UNAVAILABLE:
                return StatusCode.UNAVAILABLE;
            default:
                return StatusCode.INTERNAL;
        }
    }

    public RefusedCode refusedCode() {
        return refused.getCode();
    }

    public String reason() {
        return refused.getReason();
    }

    /** How long to wait before trying again; 0 when waiting alone will not help. */
    public long retryAfterMs() {
        return HandshakeFields.unsigned(refused.getRetryAfterMs());
    }

    public int serverMinProtocolVersion() {
        return refused.getServerMinProtocolVersion();
    }

    public int serverMaxProtocolVersion() {
        return refused.getServerMaxProtocolVersion();
    }

    public Map<String, String> details() {
        return refused.getDetailsMap();
    }

    /**
     * Whether the same Hello may succeed later (rate limits, full servers and services a broker is starting
     * pass; policies do not).
     */
    public boolean isRetryable() {
        RefusedCode code = refused.getCode();
        return code == RefusedCode.RATE_LIMITED || code == RefusedCode.RESOURCE_EXHAUSTED
                || code == RefusedCode.INTERNAL || code == RefusedCode.UNAVAILABLE;
    }
}
