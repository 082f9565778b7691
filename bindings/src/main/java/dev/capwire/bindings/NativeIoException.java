package dev.capwire.bindings;

import java.io.IOException;

/**
 * A failed native call: names the call, the errno symbol and, where there is one, the path or address it
 * was about. Subclasses mark the failures callers commonly handle differently.
 */
public class NativeIoException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;
    private final String subject;

    public NativeIoException(String call, int errno, String subject) {
        this(call, errno, subject, null);
    }

    /** With {@code explanation} (what the failure means there, what to do about it) appended to the message. */
    public NativeIoException(String call, int errno, String subject, String explanation) {
        super(call + (subject == null ? "" : "(" + subject + ")") + " failed: " + Errno.name(errno)
                + (explanation == null ? "" : ": " + explanation));
        this.call = call;
        this.errno = errno;
        this.subject = subject;
    }

    /** The native call that failed, e.g. {@code connect}. */
    public String call() {
        return call;
    }

    /** The positive errno value. */
    public int errno() {
        return errno;
    }

    /** The errno symbol, e.g. {@code ENOENT}. */
    public String errnoName() {
        return Errno.name(errno);
    }

    /** The path, address or fd the call was about, or null. */
    public String subject() {
        return subject;
    }

    /** The peer is gone: writing hit EPIPE or ECONNRESET. */
    public static final class PeerGoneException extends NativeIoException {
        private static final long serialVersionUID = 1L;

        PeerGoneException(String call, int errno, String subject) {
            super(call, errno, subject);
        }
    }

    /** Bind failed because the address or path is taken (EADDRINUSE). */
    public static final class AddressInUseException extends NativeIoException {
        private static final long serialVersionUID = 1L;

        AddressInUseException(String call, int errno, String subject) {
            super(call, errno, subject);
        }

        /** A bind that failed EADDRINUSE, with what the caller found at the address appended to the message. */
        public AddressInUseException(String call, String subject, String explanation) {
            super(call, Errno.EADDRINUSE, subject, explanation);
        }
    }

    /** Nobody is listening there: ENOENT for a Unix path, ECONNREFUSED otherwise. */
    public static final class NoListenerException extends NativeIoException {
        private static final long serialVersionUID = 1L;

        NoListenerException(String call, int errno, String subject) {
            super(call, errno, subject);
        }
    }

    /** A received control message was truncated; every fd that arrived with it was closed. */
    public static final class FdsTruncatedException extends NativeIoException {
        private static final long serialVersionUID = 1L;

        FdsTruncatedException(String call, int errno, String subject) {
            super(call, errno, subject);
        }

        @Override
        public String getMessage() {
            return super.getMessage() + " (control message truncated: more fds arrived than there was room "
                    + "for; all of them were closed)";
        }
    }
}
