package dev.capwire.bindings;

import java.io.IOException;
import java.net.SocketAddress;

/**
 * A {@link PeerChild} connected to a listener of this process: the listener, the child and the accepted
 * end, closed together (accepted end, child, listener).
 */
final class ConnectedChild implements AutoCloseable {
    final NativeSocket listener;
    final ChildJvm child;
    final NativeSocket accepted;

    private ConnectedChild(NativeSocket listener, ChildJvm child, NativeSocket accepted) {
        this.listener = listener;
        this.child = child;
        this.accepted = accepted;
    }

    /** Listens on {@code address} (a TCP port may be 0), starts a child and has it connect. */
    static ConnectedChild over(SocketAddress address) throws IOException {
        NativeSocket listener = NativeSocket.listen(address, 4);
        ChildJvm child = null;
        try {
            child = PeerChild.start();
            return new ConnectedChild(listener, child, PeerChild.connectAndAccept(child, listener));
        } catch (IOException | RuntimeException | Error e) {
            if (child != null) {
                child.close();
            }
            listener.close();
            throw e;
        }
    }

    @Override
    public void close() throws IOException {
        try {
            accepted.close();
            child.close();
        } finally {
            listener.close();
        }
    }
}
