package dev.capwire.transport;

import dev.capwire.wire.StatusCode;

/**
 * A call that ended with a status other than OK: a stable code, a machine-readable reason (a short stable
 * string such as the name of the limit that was hit, {@code ""} when there is none) and a message for people.
 */
public class StatusException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final StatusCode code;
    private final String reason;
    private final String detail;

    public StatusException(StatusCode code, String message) {
        this(code, "", message, null);
    }

    public StatusException(StatusCode code, String message, Throwable cause) {
        this(code, "", message, cause);
    }

    public StatusException(StatusCode code, String reason, String message, Throwable cause) {
        super(code + (reason.isEmpty() ? "" : " [" + reason + "]") + ": " + message, cause);
        this.code = code;
        this.reason = reason;
        this.detail = message;
    }

    public StatusCode code() {
        return code;
    }

    /** What a program can switch on: stable across releases, unlike the message; empty when none was given. */
    public String reason() {
        return reason;
    }

    /** The message for people, without the code and reason that {@link #getMessage()} starts with. */
    public String detail() {
        return detail;
    }
}
