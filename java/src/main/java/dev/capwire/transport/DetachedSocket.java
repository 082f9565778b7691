package dev.capwire.transport;

import dev.capwire.bindings.NativeSocket;

/**
 * A socket a connection let go of ({@link Connection#detach}) so that another process can take it over: the
 * open socket, and the bytes already read from it that nobody has handled. The holder owns the socket and
 * closes it; closing it touches only this process's fd, never the conversation, which goes on wherever the
 * socket was sent.
 */
public final class DetachedSocket implements AutoCloseable {
    private final NativeSocket socket;
    private final byte[] unread;

    DetachedSocket(NativeSocket socket, byte[] unread) {
        this.socket = socket;
        this.unread = unread;
    }

    public NativeSocket socket() {
        return socket;
    }

    /** The bytes read past the last frame the connection's listener was given, in the order they arrived. */
    public byte[] unread() {
        return unread.clone();
    }

    /** Closes this process's fd of the socket, without a shutdown: the peer does not notice. */
    @Override
    public void close() {
        socket.close();
    }
}
