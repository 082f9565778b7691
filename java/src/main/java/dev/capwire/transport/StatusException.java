package dev.capwire.transport;

import dev.capwire.wire.StatusCode;

/** A call that ended with a status other than OK: a stable code plus a human-readable reason. */
public class StatusException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final StatusCode code;

    public StatusException(StatusCode code, String message) {
        super(code + ": " + message);
        this.code = code;
    }

    public StatusException(StatusCode code, String message, Throwable cause) {
        super(code + ": " + message, cause);
        this.code = code;
    }

    public StatusCode code() {
        return code;
    }
}
