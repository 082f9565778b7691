package dev.capwire.transport;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.bindings.PeerCredentials;
import java.net.SocketAddress;
import java.util.Optional;

/**
 * What the kernel says of the peer at the other end of one connection's socket: its address on TCP, its verified
 * credentials and a pidfd on a Unix socket. Any thread. The credentials are asked of the kernel when first wanted
 * (a server's policy asks at once; most clients never do), and kept: they cannot change while the socket lives.
 */
final class PeerIdentity {
    private final NativeSocket socket;
    private final boolean unix;
    private final SocketAddress remoteAddress;
    private volatile PeerCredentials credentials; // null until first asked for (a racing second fetch is harmless)

    PeerIdentity(NativeSocket socket, boolean unix) throws NativeIoException {
        this.socket = socket;
        this.unix = unix;
        this.remoteAddress = unix ? null : socket.remoteAddress();
    }

    /** See {@link Connection#peerCredentials()}. */
    PeerCredentials credentials() {
        PeerCredentials known = credentials;
        if (known != null || !unix) {
            return known;
        }
        try {
            known = socket.peerCredentials();
        } catch (NativeIoException e) {
            return null; // closed (FileDescriptor.ClosedException): the socket and what the kernel knew are gone
        }
        credentials = known;
        return known;
    }

    /** See {@link Connection#peerPidfd()}. */
    Optional<FileDescriptor> pidfd() {
        if (!unix) {
            return Optional.empty();
        }
        try {
            return socket.peerPidfd();
        } catch (NativeIoException e) {
            return Optional.empty();
        }
    }

    SocketAddress remoteAddress() {
        return remoteAddress;
    }
}
