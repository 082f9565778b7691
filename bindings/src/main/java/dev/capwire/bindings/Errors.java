package dev.capwire.bindings;

/** Turns the {@code -errno} results of {@link Native} calls into typed {@link NativeIoException}s. */
public final class Errors {
    private Errors() {
    }

    /** Returns {@code result} when it is non-negative, else throws the exception for {@code -result}. */
    public static int check(int result, String call, Object subject) throws NativeIoException {
        if (result >= 0) {
            return result;
        }
        throw exception(call, -result, subject);
    }

    public static long check(long result, String call, Object subject) throws NativeIoException {
        if (result >= 0) {
            return result;
        }
        throw exception(call, (int) -result, subject);
    }

    public static NativeIoException exception(String call, int errno, Object subject) {
        String about = subject == null ? null : subject.toString();
        if (errno == Errno.EOPNOTSUPP) {
            // What a platform lacks says which platform: the same call works elsewhere.
            String platform = "not supported on " + Platform.current();
            about = about == null ? platform : about + ", " + platform;
        }
        if (errno == Errno.EPIPE || errno == Errno.ECONNRESET) {
            return new NativeIoException.PeerGoneException(call, errno, about);
        }
        if (errno == Errno.EADDRINUSE) {
            return new NativeIoException.AddressInUseException(call, errno, about);
        }
        if (call.startsWith("connect") && (errno == Errno.ENOENT || errno == Errno.ECONNREFUSED)) {
            return new NativeIoException.NoListenerException(call, errno, about);
        }
        if (call.equals("recvmsg") && errno == Errno.EMSGSIZE) {
            return new NativeIoException.FdsTruncatedException(call, errno, about);
        }
        return new NativeIoException(call, errno, about);
    }
}
