package dev.capwire.rpc;

/**
 * Turns one declared Java type into content, cap descriptors and fds, and back (docs/rpc-protocol.md,
 * "Content encodings"). Chosen once per method when its interface is first used, never per call.
 */
interface Codec {
    void encode(Object value, Outgoing out);

    /** Throws {@link MalformedException} when the incoming message does not hold what the type needs. */
    Object decode(Incoming in);

    /** The incoming content, descriptors or fds do not fit the declared type. */
    final class MalformedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        MalformedException(String message) {
            super(message);
        }

        MalformedException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
