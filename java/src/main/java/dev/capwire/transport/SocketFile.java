package dev.capwire.transport;

import dev.capwire.Configuration;
import dev.capwire.bindings.Errno;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.bindings.UnixAddress;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The listening socket of a server and, for a Unix path, the policy for the file the bind creates.
 *
 * <p>A server killed with SIGKILL leaves its socket file behind, and binding that path again fails
 * EADDRINUSE. So when the bind finds a path taken, this looks at what is there: a socket nobody listens on
 * (connecting is refused) is stale and, unless {@link Configuration#REPLACE_STALE_SOCKET_FILE_PROP_NAME} is
 * off, is unlinked and the bind retried, with one log line; a socket a server listens on, or anything that
 * is not a socket, fails the bind with a message saying which, and is left alone.
 *
 * <p>On close the file is removed only if it is still the one this bind created (same device and inode):
 * a server that replaced it meanwhile keeps its own. It is removed while the socket still listens, so no
 * Capwire server can take it as stale and replace it between the check and the unlink.
 *
 * <p>What this cannot prevent: two servers that find the same stale file at the same instant may both
 * replace it, and the first then listens on a file that is gone. The identity check before each unlink makes
 * that window a few system calls wide.
 */
final class SocketFile {
    private static final System.Logger LOG = System.getLogger(SocketFile.class.getName());
    /** st_mode's file-type bits and the socket type (sys/stat.h; the same on every Linux and BSD). */
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;
    /** A listening Unix socket accepts or refuses at once; waiting longer only matters when its backlog is full. */
    private static final long PROBE_TIMEOUT_MS = 1000;
    /** Binds tried: each failed one found a file that someone else replaced or removed under us meanwhile. */
    private static final int BIND_ATTEMPTS = 3;

    private final NativeSocket socket;
    /** The socket file, or null for TCP and abstract names, which leave nothing on disk. */
    private final Path path;
    /** Device and inode of the file the bind created, or null when they could not be read (then never removed). */
    private final Identity identity;

    private SocketFile(NativeSocket socket, Path path, Identity identity) {
        this.socket = socket;
        this.path = path;
        this.identity = identity;
    }

    /**
     * A listening socket someone else bound (a service manager, which passed it to this process): its file, if
     * any, is theirs, and is never removed here.
     */
    static SocketFile inherited(NativeSocket socket) {
        return new SocketFile(socket, null, null);
    }

    /** Binds and listens on {@code address}, replacing a stale socket file there if {@code replaceStale}. */
    static SocketFile listen(SocketAddress address, int backlog, boolean replaceStale) throws NativeIoException {
        Path path = filePath(address);
        if (path == null) {
            return new SocketFile(NativeSocket.listen(address, backlog), null, null);
        }
        for (int attempt = 1; ; attempt++) {
            try {
                NativeSocket socket = NativeSocket.listen(address, backlog);
                return new SocketFile(socket, path, identityOrNull(path));
            } catch (NativeIoException.AddressInUseException taken) {
                if (attempt == BIND_ATTEMPTS) {
                    throw new NativeIoException.AddressInUseException("bind", path.toString(), "the path was "
                            + "taken again each time it was found stale or gone (" + BIND_ATTEMPTS + " binds)");
                }
                clearStale(address, path, replaceStale);
            }
        }
    }

    NativeSocket socket() {
        return socket;
    }

    /**
     * Removes the socket file if it is still the one the bind created. Call before closing the socket (see
     * the class comment).
     */
    void removeIfOurs() {
        if (path == null || identity == null) {
            return;
        }
        try {
            if (identity.equals(identity(path))) {
                Files.delete(path);
            }
        } catch (NoSuchFileException gone) {
            // Someone removed it already: nothing left to clean up.
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "could not remove socket file " + path + ": " + e);
        }
    }

    /** The file a Unix path address creates, or null when the address creates none. */
    private static Path filePath(SocketAddress address) {
        if (address instanceof UnixAddress && !((UnixAddress) address).isAbstract()) {
            return Path.of(((UnixAddress) address).name());
        }
        return null;
    }

    /**
     * The bind found {@code path} taken: unlinks it if it is a stale socket and replacing is on, else throws
     * why the bind cannot proceed. Returns normally also when the file vanished meanwhile (bind again).
     */
    private static void clearStale(SocketAddress address, Path path, boolean replaceStale) throws NativeIoException {
        Map<String, Object> found;
        try {
            found = Files.readAttributes(path, "unix:mode,dev,ino", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException gone) {
            return;
        } catch (IOException | UnsupportedOperationException e) {
            throw new NativeIoException.AddressInUseException("bind", path.toString(),
                    "the path exists and its type could not be read (" + e + ")");
        }
        if (((Integer) found.get("mode") & S_IFMT) != S_IFSOCK) {
            throw new NativeIoException.AddressInUseException("bind", path.toString(),
                    "the path exists and is not a socket; it was left alone");
        }
        if (!nobodyListens(address, path)) {
            return; // vanished meanwhile
        }
        if (!replaceStale) {
            throw new NativeIoException.AddressInUseException("bind", path.toString(), "a stale socket file is "
                    + "there (nobody listens on it) and replacing it is off (" + Configuration
                    .REPLACE_STALE_SOCKET_FILE_PROP_NAME + "=false): remove it, or turn replacing on");
        }
        try {
            // Only the file we probed: one that a server bound since then is not stale.
            if (!Identity.of(found).equals(identity(path))) {
                return;
            }
            Files.delete(path);
        } catch (NoSuchFileException gone) {
            return;
        } catch (IOException e) {
            throw new NativeIoException.AddressInUseException("bind", path.toString(),
                    "a stale socket file is there (nobody listens on it) and removing it failed (" + e + ")");
        }
        LOG.log(System.Logger.Level.INFO, "replaced stale socket file " + path + ": nobody listened on it (left"
                + " by a server that did not close, such as one killed with SIGKILL)");
    }

    /**
     * Connects to the socket file: true when the connection is refused (the file is stale), false when the
     * file is gone; throws when a server listens, or when it cannot tell.
     */
    private static boolean nobodyListens(SocketAddress address, Path path) throws NativeIoException {
        try {
            // Connected: the server sees a connection close before it said anything, which it handles anyway.
            NativeSocket.connect(address, PROBE_TIMEOUT_MS).close();
        } catch (NativeIoException.NoListenerException noListener) {
            return noListener.errno() == Errno.ECONNREFUSED;
        } catch (NativeIoException e) {
            throw new NativeIoException.AddressInUseException("bind", path.toString(), "a socket file is there and"
                    + " connecting to it to see whether a server listens failed (" + e.getMessage() + ")");
        }
        throw new NativeIoException.AddressInUseException("bind", path.toString(),
                "another server is listening on " + path);
    }

    private static Identity identityOrNull(Path path) {
        try {
            return identity(path);
        } catch (IOException | UnsupportedOperationException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot read the identity of socket file " + path
                    + ", so it will not be removed when the server closes: " + e);
            return null;
        }
    }

    private static Identity identity(Path path) throws IOException {
        return Identity.of(Files.readAttributes(path, "unix:dev,ino", LinkOption.NOFOLLOW_LINKS));
    }

    /** Device and inode: what tells one file at a path from another created there later. */
    private record Identity(long dev, long ino) {
        static Identity of(Map<String, Object> attributes) {
            return new Identity((Long) attributes.get("dev"), (Long) attributes.get("ino"));
        }
    }
}
