package dev.capwire.transport;

import dev.capwire.bindings.FileDescriptor;

/** A successful reply to a request: its payload (copied out of the receive buffer) and any fds it carried. */
public final class Response {
    private final byte[] payload;
    private final FileDescriptor[] fds;

    Response(byte[] payload, FileDescriptor[] fds) {
        this.payload = payload;
        this.fds = fds;
    }

    public byte[] payload() {
        return payload;
    }

    /** The descriptors that came with the reply; the caller owns and must close them. */
    public FileDescriptor[] fds() {
        return fds;
    }
}
