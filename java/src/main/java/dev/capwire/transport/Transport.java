package dev.capwire.transport;

import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.bindings.StartupChecks;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A set of event loops and everything running on them: servers listening for connections and connections
 * made by {@link #connect}. Closing the transport closes all of them and stops the loop threads.
 *
 * <pre>{@code
 * try (Transport transport = Transport.create(TransportOptions.defaults())) {
 *     transport.listen(Endpoint.parse("unix:/tmp/echo.sock"), (connection, frame) ->
 *             connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength()));
 * }
 * }</pre>
 */
public final class Transport implements AutoCloseable {
    private static final AtomicInteger TRANSPORTS = new AtomicInteger();
    /** Buffers of each kind kept for reuse after connections close (a few MiB at the defaults). */
    private static final int POOLED_BUFFERS = 32;
    /**
     * Classes a connection first needs when it closes, loaded with the transport rather than at the first
     * close: loading a class from a directory on the class path takes a free fd, and a class that failed to
     * load stays failed for every class that refers to it (JVMS 5.4.3). A server whose first connection closed
     * while its process was out of fds could otherwise never close a connection again, and so never get its
     * fds back.
     */
    private static final Class<?>[] NEEDED_WHEN_OUT_OF_FDS = {
        CloseReason.class, CloseReason.Kind.class, ConnectionState.class,
    };

    private final TransportOptions options;
    private final EventLoop[] loops;
    private final AtomicInteger nextLoop = new AtomicInteger();
    private final Set<Server> servers = ConcurrentHashMap.newKeySet();
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;
    private final BufferPool stagingPool;

    private Transport(TransportOptions options) throws NativeIoException {
        this.options = options;
        // Staging holds at least one ring record; each loop has one receive buffer (see EventLoop).
        this.stagingPool = new BufferPool(Math.max(64 * 1024, options.ringBytes() / 8), POOLED_BUFFERS);
        boolean invoker = options.eventLoops() == 0;
        this.loops = new EventLoop[invoker ? 1 : options.eventLoops()];
        int number = TRANSPORTS.incrementAndGet();
        try {
            for (int i = 0; i < loops.length; i++) {
                loops[i] = new EventLoop("capwire-" + number + "-loop-" + i, options, stagingPool, !invoker);
            }
        } catch (NativeIoException | RuntimeException e) {
            for (EventLoop loop : loops) {
                if (loop != null) {
                    loop.close();
                }
            }
            throw e;
        }
    }

    /**
     * Starts the loops. Fails with {@link IllegalStateException} naming the JVM flag when one Capwire needs
     * is missing (see {@link StartupChecks}).
     */
    public static Transport create(TransportOptions options) throws NativeIoException {
        StartupChecks.run(); // before any Agrona buffer class, whose static initializer would fail obscurely
        return new Transport(options);
    }

    public TransportOptions options() {
        return options;
    }

    /**
     * Invoker mode ({@code eventLoops = 0}): runs one duty cycle of the transport on the calling thread, which
     * must be the thread that created it, and returns how much work it did. This is how a latency-critical
     * application that already spins on a thread of its own drives Capwire without a second busy thread.
     */
    public int poll() {
        EventLoop loop = loops[0];
        LoopInvoker invoker = loop.invoker();
        if (invoker == null || !loop.inLoop()) {
            throw new IllegalStateException("poll() is for invoker mode (eventLoops = 0), on the creating thread");
        }
        if (invoker.inCallbacks()) {
            // A duty cycle inside one of its own callbacks would run the rest of that cycle's work (and the
            // callback's connection) re-entrantly, under the callback's feet.
            throw new IllegalStateException("poll() called from a callback of the loop it would run: return from the"
                    + " callback, and the owning thread's next poll() goes on");
        }
        return invoker.cycle();
    }

    EventLoop nextLoop() {
        return loops[Math.floorMod(nextLoop.getAndIncrement(), loops.length)];
    }

    /** Listens on the endpoint; each accepted connection reports to {@code listener}. */
    public Server listen(Endpoint endpoint, FrameListener listener) throws NativeIoException {
        checkOpen();
        Server server = new Server(this, endpoint, listener);
        servers.add(server);
        return server;
    }

    /**
     * Serves on a socket that is already listening, one a service manager bound and passed to this process
     * ({@link InheritedSockets}); its socket file stays the service manager's and is not removed on close.
     */
    public Server listen(NativeSocket listening, FrameListener listener) throws NativeIoException {
        checkOpen();
        Server server = new Server(this, listening, listener);
        servers.add(server);
        return server;
    }

    /** Connects, waiting at most {@code connectTimeoutMs}; frames the peer sends report to {@code listener}. */
    public Connection connect(Endpoint endpoint, FrameListener listener) throws NativeIoException {
        checkOpen();
        NativeSocket socket = NativeSocket.connect(endpoint.socketAddress(), options.connectTimeoutMs());
        return adopt(nextLoop(), endpoint, socket, listener, false).join();
    }

    /**
     * Takes over a socket connected elsewhere (a handshake run on it first, say) as a connection on one of
     * this transport's loops. Returns at once: the loop registers it next, runs {@code listener}'s onOpen, and
     * only then sends what was queued meanwhile, so the caller need not wait for that hand-off.
     */
    public Connection adopt(Endpoint endpoint, NativeSocket socket, FrameListener listener) throws NativeIoException {
        checkOpen();
        EventLoop loop = nextLoop();
        Connection connection = create(loop, endpoint, socket, listener);
        register(loop, connection, false);
        return connection;
    }

    /**
     * Takes over a socket another process had been reading (a broker's handed-off client, see
     * {@link Connection#detach}): like {@link #adopt(Endpoint, NativeSocket, FrameListener)}, and the frames in
     * {@code unread}, the bytes that process read and did not handle, reach {@code listener} first, right after
     * its onOpen, as if read from the socket.
     */
    public Connection adopt(Endpoint endpoint, NativeSocket socket, byte[] unread, FrameListener listener)
            throws NativeIoException {
        checkOpen();
        if (unread.length > options.maxFrameBytes()) {
            // The bytes are put back into the loop's receive buffer, which holds one frame of this size.
            throw new IllegalArgumentException(unread.length + " unread bytes exceed maxFrameBytes "
                    + options.maxFrameBytes());
        }
        EventLoop loop = nextLoop();
        Connection connection = create(loop, endpoint, socket, listener);
        connection.seed(unread);
        register(loop, connection, true);
        return connection;
    }

    /**
     * Whether the calling thread runs this transport's loop itself (invoker mode, on the creating thread, not
     * inside one of the loop's callbacks): code that waits on this thread must then call {@link #poll()}
     * meanwhile, or nothing would move.
     */
    public boolean isDrivenByCurrentThread() {
        return loops[0].drivenByCurrentThread();
    }

    /**
     * The check before something blocks on this transport's loops without a connection yet (a handshake, say),
     * as {@link Connection#ensureMayBlock} is with one: throws {@link IllegalStateException} at once when the
     * caller is the work of one of its loops, which the wait would hold up (a listener on a loop thread, or a
     * callback of an invoker-mode loop); returns whether the caller must run the loop while it waits (invoker
     * mode, the owning thread). {@code call} names the call in the failure.
     */
    public boolean ensureMayBlock(Object call) {
        boolean drivesLoop = false;
        for (EventLoop loop : loops) {
            drivesLoop |= loop.ensureMayBlock(call);
        }
        return drivesLoop;
    }

    /**
     * Hands a connected socket to a loop; completes once it is registered there. {@code readFirst} for an
     * accepted socket, whose peer usually spoke first (see {@link Connection#open}).
     */
    CompletableFuture<Connection> adopt(EventLoop loop, Endpoint endpoint, NativeSocket socket, FrameListener listener,
            boolean readFirst) {
        Connection connection;
        try {
            connection = create(loop, endpoint, socket, listener);
        } catch (NativeIoException | RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        return register(loop, connection, readFirst);
    }

    /**
     * Server's loop: a connection for a socket the server just accepted, handed to the next loop. Throws,
     * having closed the socket, when the connection cannot be made: an {@link OutOfMemoryError} from its
     * buffers included, which the server turns into refusing this one connection.
     */
    Connection accepted(Endpoint endpoint, NativeSocket socket, FrameListener listener) throws NativeIoException {
        EventLoop loop = nextLoop();
        Connection connection = create(loop, endpoint, socket, listener);
        register(loop, connection, true);
        return connection;
    }

    /** A connection for the socket (closed if that fails), tracked by this transport. */
    private Connection create(EventLoop loop, Endpoint endpoint, NativeSocket socket, FrameListener listener)
            throws NativeIoException {
        Connection connection;
        try {
            connection = new Connection(loop, options, tracking(listener), endpoint, socket);
        } catch (NativeIoException | RuntimeException | Error e) {
            socket.close(); // the constructor gave back its use of the fd, so this closes the number
            throw e;
        }
        connections.add(connection);
        return connection;
    }

    private CompletableFuture<Connection> register(EventLoop loop, Connection connection, boolean readFirst) {
        CompletableFuture<Connection> registered = new CompletableFuture<>();
        try {
            loop.execute(() -> {
                try {
                    connection.open(readFirst);
                    registered.complete(connection);
                } catch (NativeIoException | RuntimeException | OutOfMemoryError e) {
                    connection.abort(new CloseReason(CloseReason.Kind.IO_ERROR, "registration failed: " + e));
                    registered.completeExceptionally(e);
                }
            });
        } catch (IllegalStateException stopped) {
            // Closed while this connection was being made, after checkOpen: the loop will never open it.
            connections.remove(connection);
            connection.releaseUnopened();
            throw new IllegalStateException("transport is closed", stopped);
        }
        return registered;
    }

    private FrameListener tracking(FrameListener listener) {
        return alsoOnClose(listener, connections::remove);
    }

    /** {@code listener}, with {@code onClose} run first whenever a connection closes (bookkeeping of a layer). */
    static FrameListener alsoOnClose(FrameListener listener, java.util.function.Consumer<Connection> onClose) {
        return new FrameListener() {
            @Override
            public void onOpen(Connection connection) {
                listener.onOpen(connection);
            }

            @Override
            public void onFrame(Connection connection, InboundFrame frame) {
                listener.onFrame(connection, frame);
            }

            @Override
            public void onClose(Connection connection, CloseReason reason) {
                onClose.accept(connection);
                listener.onClose(connection, reason);
            }
        };
    }

    void removed(Server server) {
        servers.remove(server);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("transport is closed");
        }
    }

    /** Connections currently open on this transport (both accepted and connected). */
    public int connectionCount() {
        return connections.size();
    }

    /**
     * Closes every server and connection (gracefully, bounded by closeTimeoutMs) and stops the loops. An
     * invoker-mode transport closed by another thread than its owner is closed by the owner's polls (only it
     * may run the loop), which this thread waits for; if the owner has ended, everything is aborted here.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        EventLoop invoker = loops[0].isInvoker() ? loops[0] : null;
        if (invoker != null && !invoker.inLoop() && !invoker.ownerAlive()) {
            invoker.close(); // nobody polls any more, so nobody to hand the closes to: everything is aborted here
            return;
        }
        if (invoker != null && invoker.inLoop()) {
            for (Server server : new ArrayList<>(servers)) {
                server.close();
            }
            for (Connection connection : new ArrayList<>(connections)) {
                connection.close(); // drives the loop itself until closed
            }
            invoker.close();
            return;
        }
        // Loop threads, or another thread than an invoker loop's owner, which may not run the loop: whoever runs
        // it does the graceful closes, and this thread waits for them, once for all.
        List<CompletableFuture<?>> closing = new ArrayList<>();
        for (Server server : new ArrayList<>(servers)) {
            closing.add(server.startClose());
            servers.remove(server);
        }
        for (Connection connection : new ArrayList<>(connections)) {
            closing.add(connection.closeFuture());
            connection.startShutdown();
        }
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(
                options.closeTimeoutMs() + 1000);
        for (CompletableFuture<?> future : closing) {
            try {
                future.get(Math.max(0, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                // The loop's shutdown below aborts whatever did not close in time.
            }
        }
        for (EventLoop loop : loops) {
            loop.close();
        }
    }
}
