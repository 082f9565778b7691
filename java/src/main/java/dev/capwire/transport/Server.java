package dev.capwire.transport;

import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import java.util.concurrent.CompletableFuture;

/**
 * A listening socket on one event loop; accepted connections are spread over the transport's loops. For a
 * Unix path, a stale socket file is replaced at bind and the server's own file removed on close (see
 * {@link SocketFile}).
 */
public final class Server extends EventLoop.Channel implements AutoCloseable {
    private static final int BACKLOG = 1024;
    private static final int ACCEPTS_PER_WAKEUP = 64;

    private final Transport transport;
    private final Endpoint endpoint;
    private final FrameListener listener;
    private final EventLoop loop;
    private final SocketFile socketFile;
    private final NativeSocket socket;
    private final int fd;
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private long token;
    private boolean open = true;

    Server(Transport transport, Endpoint requested, FrameListener listener) throws NativeIoException {
        this.transport = transport;
        this.listener = listener;
        this.loop = transport.nextLoop();
        this.socketFile = SocketFile.listen(requested.socketAddress(), BACKLOG,
                transport.options().replaceStaleSocketFile());
        this.socket = socketFile.socket();
        this.endpoint = requested.isUnix() ? requested : Endpoint.of(socket.localAddress());
        this.fd = socket.fd().acquire();
        CompletableFuture<Void> registered = new CompletableFuture<>();
        loop.execute(() -> {
            try {
                token = loop.register(this, fd, Native.INTEREST_READ);
                registered.complete(null);
            } catch (NativeIoException e) {
                registered.completeExceptionally(e);
            }
        });
        try {
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
        return EventLoop.KIND_LISTENER;
    }

    @Override
    void onReady(int ready) {
        for (int i = 0; i < ACCEPTS_PER_WAKEUP && open; i++) {
            NativeSocket accepted;
            try {
                accepted = socket.accept();
            } catch (NativeIoException e) {
                // EMFILE and friends: leave the connection in the backlog and try on the next readiness.
                System.err.println("capwire: accept on " + endpoint + " failed: " + e.getMessage());
                return;
            }
            if (accepted == null) {
                return;
            }
            transport.adopt(transport.nextLoop(), endpoint, accepted, listener, true);
        }
    }

    @Override
    void abort(CloseReason reason) {
        closeOnLoop();
    }

    private void closeOnLoop() {
        if (open) {
            open = false;
            loop.deregister(fd, token);
            releaseSocket();
        }
        closed.complete(null);
    }

    private void releaseSocket() {
        socketFile.removeIfOurs();
        socket.close();
        socket.fd().release();
    }

    /** Stops accepting; connections already accepted stay open. */
    @Override
    public void close() {
        loop.execute(this::closeOnLoop);
        if (!loop.inLoop()) {
            closed.join();
        }
        transport.removed(this);
    }

    @Override
    public String toString() {
        return "server on " + endpoint;
    }
}
