package dev.capwire.transport;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Listening sockets a service manager passed to this process (socket activation): the protocol where the
 * environment's {@code LISTEN_PID} is this process's pid and {@code LISTEN_FDS} the number of sockets, which
 * are fds 3, 4, and so on. The JDK's {@code System.inheritedChannel()} looks only at fd 0, so it cannot take them.
 * Serve one with {@link Transport#listen(NativeSocket, FrameListener)}.
 *
 * <p>The sockets must be non-blocking (systemd: {@code NonBlocking=yes} in the socket unit): the event loop
 * accepts until the backlog is empty, and on a blocking socket that last accept would hold the loop. The native
 * layer cannot change a socket's mode yet, so a blocking one is not made non-blocking here.
 */
public final class InheritedSockets {
    /** The first passed fd, after stdin, stdout and stderr. */
    static final int FIRST_FD = 3;
    /** More than this is taken for a malformed environment, not a real hand-over. */
    static final int MAX_FDS = 64;

    private InheritedSockets() {
    }

    /**
     * The sockets passed to this process, or none when the environment passes none to it (no {@code LISTEN_PID},
     * or another process's: the variables were inherited from a parent). Can be taken once: each fd is moved to a
     * close-on-exec copy, and the original number closed, so no child process inherits it.
     *
     * @throws IllegalStateException when {@code LISTEN_FDS} is malformed or a passed fd cannot be taken
     */
    public static List<NativeSocket> take() {
        return take(System.getenv(), ProcessHandle.current().pid());
    }

    static List<NativeSocket> take(Map<String, String> environment, long pid) {
        int count = count(environment, pid);
        List<NativeSocket> sockets = new ArrayList<>(count);
        for (int fd = FIRST_FD; fd < FIRST_FD + count; fd++) {
            long copy = Native.dup(fd);
            if (copy < 0) {
                sockets.forEach(NativeSocket::close);
                throw new IllegalStateException("LISTEN_FDS=" + count + " but fd " + fd + " cannot be taken (errno "
                        + -copy + ")");
            }
            Native.close(fd);
            sockets.add(NativeSocket.adopt(FileDescriptor.adopt(copy)));
        }
        return sockets;
    }

    /** How many sockets {@code environment} passes to process {@code pid}. */
    static int count(Map<String, String> environment, long pid) {
        String listenPid = environment.get("LISTEN_PID");
        if (listenPid == null || !listenPid.equals(Long.toString(pid))) {
            return 0;
        }
        String listenFds = environment.get("LISTEN_FDS");
        int count;
        try {
            count = Integer.parseInt(listenFds);
        } catch (NumberFormatException e) {
            throw new IllegalStateException("LISTEN_FDS is not a number: '" + listenFds + "'");
        }
        if (count < 0 || count > MAX_FDS) {
            throw new IllegalStateException("LISTEN_FDS=" + count + " is outside 0 to " + MAX_FDS);
        }
        return count;
    }
}
