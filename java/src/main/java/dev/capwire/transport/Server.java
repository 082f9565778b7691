package dev.capwire.transport;

import dev.capwire.Configuration;
import dev.capwire.bindings.Errno;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.agrona.BufferUtil;

/**
 * A listening socket on one event loop; accepted connections are spread over the transport's loops. For a
 * Unix path, a stale socket file is replaced at bind and the server's own file removed on close (see
 * {@link SocketFile}).
 *
 * <p>Accepting degrades instead of spinning or allocating without bound:
 * <ul>
 * <li>When accept fails (EMFILE, ENFILE, ENOBUFS, ENOMEM or anything else), the listener's read interest is
 * taken off the poller for {@code acceptBackoffMs}, then put back by a timer: the level-triggered poller
 * would otherwise report the waiting connection again at once, and the loop would spin on it.</li>
 * <li>On EMFILE or ENFILE, libuv's reserved-fd trick: the server holds one spare fd ({@code /dev/null}); it
 * closes it, accepts the waiting connections and closes each at once, so their clients see the connection
 * closed instead of hanging in the backlog, then reopens the spare. Everything on that path is loaded and
 * made beforehand, since loading a class needs a free fd too.</li>
 * <li>Past {@code maxConnectionsPerServer} connections an accepted socket is closed at once, before any
 * {@link Connection} or buffer is made for it; an {@link OutOfMemoryError} while making one refuses just that
 * connection.</li>
 * </ul>
 * Each of these is reported through the loop's error handler once per episode (until a connection is
 * accepted again), not once per connection.
 */
public final class Server extends Channel implements AutoCloseable {
    private static final int BACKLOG = 1024;
    private static final int ACCEPTS_PER_WAKEUP = 64;
    private static final int EMFILE = Errno.value("EMFILE");
    private static final int ENFILE = Errno.value("ENFILE");
    /** The spare fd's path, in a direct buffer made once: reopening it then allocates nothing. */
    private static final ByteBuffer SPARE_PATH = pathBuffer("/dev/null");
    private static final long SPARE_PATH_ADDRESS = BufferUtil.address(SPARE_PATH);

    private final Transport transport;
    private final Endpoint endpoint;
    private final FrameListener listener;
    private final EventLoop loop;
    private final SocketFile socketFile;
    private final NativeSocket socket;
    private final long fd;
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private long token;
    private boolean open = true;

    // Loop-only accept state; see the class comment.
    private final long backoffNanos;
    private final int maxConnections;
    /** Accepted connections not yet closed; decremented on whichever loop closes one. */
    private final AtomicInteger live = new AtomicInteger();
    /** The user's listener, counting closes in {@link #live}; made once, not per connection. */
    private final FrameListener counting;
    private final Timers.Task resume = this::resumeAccepting;
    /** The reserved fd given up on EMFILE so that one more accept can succeed; -1 while it is not held. */
    private long spare = -1;
    /** The timer that puts read interest back; -1 while accepting. */
    private long resumeTimer = -1;
    /** Episodes already reported: accept failing, the connection limit reached, connections failing to be made. */
    private boolean acceptFailing;
    private boolean atLimit;
    private boolean failingToAdmit;

    Server(Transport transport, Endpoint requested, FrameListener listener) throws NativeIoException {
        this(transport, SocketFile.listen(requested.socketAddress(), BACKLOG,
                transport.options().replaceStaleSocketFile()), requested, listener);
    }

    /** A server on a socket already listening (passed by a service manager: see {@link InheritedSockets}). */
    Server(Transport transport, NativeSocket listening, FrameListener listener) throws NativeIoException {
        this(transport, SocketFile.inherited(listening), null, listener);
    }

    private Server(Transport transport, SocketFile socketFile, Endpoint requested, FrameListener listener)
            throws NativeIoException {
        this.transport = transport;
        this.listener = listener;
        this.loop = transport.nextLoop();
        this.socketFile = socketFile;
        this.socket = socketFile.socket();
        this.endpoint = requested != null && requested.isUnix() ? requested : Endpoint.of(socket.localAddress());
        this.fd = socket.fd().acquire();
        this.backoffNanos = TimeUnit.MILLISECONDS.toNanos(transport.options().acceptBackoffMs());
        this.maxConnections = transport.options().maxConnectionsPerServer();
        this.counting = counting(listener);
        this.spare = openSpare();
        CompletableFuture<Void> registered = new CompletableFuture<>();
        try {
            loop.execute(() -> {
                try {
                    token = loop.register(this, fd, Native.INTEREST_READ);
                    registered.complete(null);
                } catch (NativeIoException e) {
                    registered.completeExceptionally(e);
                }
            });
            registered.join();
        } catch (RuntimeException e) {
            releaseSocket();
            throw e;
        }
    }

    /** The endpoint actually bound (a TCP port 0 becomes the port the kernel chose). */
    public Endpoint endpoint() {
        return endpoint;
    }

    @Override
    long kind() {
        return Channel.KIND_LISTENER;
    }

    /** Connections this server accepted that are still open. */
    public int connectionCount() {
        return live.get();
    }

    @Override
    void onReady(int ready) {
        for (int i = 0; i < ACCEPTS_PER_WAKEUP && open && resumeTimer == -1; i++) {
            long accepted = Native.accept(fd);
            if (accepted == -Errno.EAGAIN) {
                return;
            }
            if (accepted < 0) {
                acceptFailed((int) -accepted);
                return;
            }
            acceptFailing = false;
            admit(accepted);
        }
    }

    /** Makes a connection of an accepted fd, unless the limit is reached or memory runs out: then closes it. */
    private void admit(long accepted) {
        if (live.get() >= maxConnections) {
            Native.close(accepted);
            if (!atLimit) {
                atLimit = true;
                loop.reportError(new IllegalStateException(this + ": closed a new connection at once: "
                        + maxConnections + " are open (" + Configuration.MAX_CONNECTIONS_PER_SERVER_PROP_NAME
                        + "); further ones are closed unreported until one is admitted again"));
            }
            return;
        }
        atLimit = false;
        live.incrementAndGet(); // before the connection exists: its close may come on another loop at once
        NativeSocket wrapped = null;
        try {
            wrapped = NativeSocket.adopt(FileDescriptor.adopt(accepted));
            transport.accepted(endpoint, wrapped, counting); // closes the socket itself if it fails
            failingToAdmit = false;
        } catch (NativeIoException | RuntimeException | OutOfMemoryError e) {
            live.decrementAndGet();
            if (wrapped == null) {
                Native.close(accepted);
            }
            refused(e);
        }
    }

    /** A connection could not be made (out of direct memory for its buffers, say): it was closed instead. */
    private void refused(Throwable failure) {
        if (!failingToAdmit) {
            failingToAdmit = true;
            loop.reportError(new IllegalStateException(this + ": closed a new connection at once, since making it "
                    + "failed with " + failure + "; further such failures are closed unreported until one is "
                    + "admitted again", failure));
        }
    }

    /**
     * Accept failed with {@code errno}: on EMFILE or ENFILE close what waits in the backlog with the spare fd,
     * then stop accepting for the back-off. Reported once until an accept succeeds.
     */
    private void acceptFailed(int errno) {
        int shed = errno == EMFILE || errno == ENFILE ? shedWaiting() : -1;
        resumeTimer = loop.timers().schedule(loop.clock().nanoTime() + backoffNanos, resume);
        try {
            loop.modify(fd, 0, token);
        } catch (NativeIoException e) {
            loop.reportError(e); // still paused: onReady ignores readiness until the timer resumes
        }
        if (!acceptFailing) {
            acceptFailing = true;
            // While the spare is given up, one fd is free: a logger that needs to open a file may have it.
            loop.reportError(new NativeIoException("accept", errno, endpoint.toString(), (shed < 0 ? ""
                    : "closed " + shed + " waiting connection(s) at once with the spare fd; ")
                    + "not accepting for " + TimeUnit.NANOSECONDS.toMillis(backoffNanos) + " ms ("
                    + Configuration.ACCEPT_BACKOFF_MS_PROP_NAME + "), and reported once until an accept succeeds"));
        }
        if (spare < 0) {
            spare = openSpare();
        }
    }

    /**
     * Out of fds: gives up the spare so that accept can succeed, and closes what it accepts at once, so those
     * clients see their connection closed rather than wait in the backlog. Leaves the spare given up (the
     * caller reopens it): no system call, allocation or class loading here needs a free fd.
     */
    private int shedWaiting() {
        if (spare < 0) {
            return 0;
        }
        Native.close(spare);
        spare = -1;
        int shed = 0;
        while (shed < BACKLOG) {
            long accepted = Native.accept(fd);
            if (accepted < 0) {
                break;
            }
            Native.close(accepted);
            shed++;
        }
        return shed;
    }

    /** Timer: the back-off is over; read interest goes back on, and the poller reports what waits. */
    private void resumeAccepting(long timerId) {
        resumeTimer = -1;
        if (!open) {
            return;
        }
        if (spare < 0) {
            spare = openSpare();
        }
        try {
            loop.modify(fd, Native.INTEREST_READ, token);
        } catch (NativeIoException e) {
            loop.reportError(new IllegalStateException(this + ": cannot resume accepting", e));
        }
    }

    /** The spare fd, or -1 when none can be opened now (tried again after the next failure or back-off). */
    private static long openSpare() {
        long opened = Native.open(SPARE_PATH_ADDRESS, SPARE_PATH.capacity(), false);
        return opened < 0 ? -1 : opened;
    }

    private static ByteBuffer pathBuffer(String path) {
        byte[] bytes = path.getBytes(StandardCharsets.US_ASCII);
        ByteBuffer buffer = ByteBuffer.allocateDirect(bytes.length);
        buffer.put(0, bytes);
        return buffer;
    }

    private FrameListener counting(FrameListener listener) {
        return Transport.alsoOnClose(listener, connection -> live.decrementAndGet());
    }

    @Override
    void abort(CloseReason reason) {
        closeOnLoop();
    }

    /** Has the loop stop accepting (at once when the caller runs the loop) and says when it has. */
    CompletableFuture<Void> startClose() {
        try {
            loop.execute(this::closeOnLoop);
        } catch (IllegalStateException stopped) {
            // The loop aborted this server as it stopped: closed already.
        }
        return closed;
    }

    private void closeOnLoop() {
        if (open) {
            open = false;
            if (resumeTimer != -1) {
                loop.timers().cancel(resumeTimer);
                resumeTimer = -1;
            }
            loop.deregister(fd, token);
            releaseSocket();
        }
        closed.complete(null);
    }

    private void releaseSocket() {
        socketFile.removeIfOurs();
        socket.close();
        socket.fd().release();
        if (spare >= 0) {
            Native.close(spare);
            spare = -1;
        }
    }

    /**
     * Stops accepting; connections already accepted stay open. From a thread that does not run the loop this
     * waits for the loop to do it, bounded by {@code closeTimeoutMs} and a second: an invoker-mode loop runs
     * it only when its owning thread next polls, and a caller must not hang on an owner that stopped polling.
     *
     * @throws IllegalStateException when the loop did not get to it in time (it still will, at its next cycle)
     */
    @Override
    public void close() {
        startClose();
        if (!loop.inLoop()) {
            long timeoutMs = transport.options().closeTimeoutMs() + 1000;
            try {
                closed.get(timeoutMs, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                throw new IllegalStateException(this + ": " + loop.roleName() + " did not run the close within "
                        + timeoutMs + " ms" + (loop.isInvoker() ? " (invoker mode: it runs when the owning thread"
                        + " next calls Transport.poll())" : "") + "; it stays queued, and Transport.close() closes"
                        + " it too");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(this + ": interrupted while its loop closed it; it stays queued");
            } catch (ExecutionException e) {
                throw new IllegalStateException(e.getCause());
            }
        }
        transport.removed(this);
    }

    @Override
    public String toString() {
        return "server on " + endpoint;
    }
}
