package dev.capwire.transport;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.GoAwayReason;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.ObjLongConsumer;
import java.util.concurrent.atomic.AtomicLong;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One live connection: a socket owned by an event loop, frames out and in, the requests this side awaits
 * replies to, and the typed state each layer above keeps with it.
 *
 * <p>This class is the public face: it checks who may call what, and hands each call to the package-private
 * part whose job it is. Out: {@link OutboundLimits} (how large a frame may be), {@link OutboundRing} (application
 * threads' frames, lock-free), {@link OutboundPath} (loop work's frames in staging, the ring drained behind them,
 * writing, backpressure), {@link WriteInterest} (a full socket and its stall timer), {@link MessageSender}
 * (fragmentation, and how each kind of sender waits), {@link RequestSender} (a request's slot, frames and races
 * with a close). In: {@link InboundPath} (reading, decoding, fd binding, the inbound gate, dispatch),
 * {@link RequestTable} (correlation and deadlines). Around them: {@link Keepalive}, {@link ListenerGuard}
 * (listener failures), {@link LoopRegistration} (the poller's view of the socket), {@link SocketHandOff} (the
 * socket changing owner), and {@link CloseSequence} (the one place the {@link ConnectionState} changes).
 * {@link ConnectionWiring} builds them and carries what each reports to the part that acts on it, so each part
 * can be read on its own.
 *
 * <h2>Threads</h2>
 * The send and request methods, {@link #close()} and {@link #abort()} are safe from any thread. Methods marked
 * "loop work" must be called from the connection's listener callbacks (or another task of its loop); they
 * throw {@link IllegalStateException} otherwise. Blocking methods ({@link #call}, {@link #await}) throw at
 * once when called as loop work, since they would wait for the loop they hold: on a loop with its own thread,
 * and in invoker mode from a callback run while the owning thread polls ({@link #ensureMayBlock}).
 */
public final class Connection extends ConnectionChannel implements AutoCloseable {
    private static final AtomicLong IDS = new AtomicLong();
    /** The frame types the transport sends itself; {@link #offerFrame} refuses them. */
    private static final boolean[] TRANSPORT_TYPES = new boolean[256];

    static {
        for (byte type : new byte[] {FrameType.REQUEST, FrameType.RESPONSE, FrameType.ERROR, FrameType.NOTIFY,
                FrameType.PING, FrameType.PONG, FrameType.GOAWAY, FrameType.CANCEL}) {
            TRANSPORT_TYPES[type & 0xFF] = true;
        }
    }

    private final long id = IDS.incrementAndGet();
    private final EventLoop loop;
    private final TransportOptions options;
    private final ListenerGuard guard;
    private final Endpoint endpoint;
    private final long fd;
    private final PeerIdentity peer;
    private final Attributes attributes = new Attributes();

    private final OutboundLimits limits;
    private final OutboundRing ring;
    private final OutboundPath outbound;
    private final WriteInterest writeInterest; // read by every direct poll: held here, not behind outbound
    private final MessageSender messages;
    private final InboundPath inbound;
    private final RequestTable requests;
    private final Keepalive keepalive;
    private final CloseSequence closing;
    private final LoopRegistration registration;
    private final SocketHandOff handOff;
    private final RequestSender requestSender;

    Connection(EventLoop loop, TransportOptions options, FrameListener listener, Endpoint endpoint,
            NativeSocket socket) throws NativeIoException {
        this.loop = loop;
        this.options = options;
        this.endpoint = endpoint;
        boolean unix = endpoint.isUnix();
        this.fd = socket.fd().acquire(); // held for the connection's life: the number stays ours until close
        try {
            this.peer = new PeerIdentity(socket, unix);
            if (options.socketSendBufferBytes() > 0) {
                socket.setOption(Native.OPT_SNDBUF, options.socketSendBufferBytes());
            }
            if (options.socketReceiveBufferBytes() > 0) {
                socket.setOption(Native.OPT_RCVBUF, options.socketReceiveBufferBytes());
            }
            if (!unix) {
                socket.setOption(Native.OPT_TCP_NODELAY, 1);
            }
            ConnectionWiring parts = new ConnectionWiring(this, loop, options, listener, socket, fd, unix);
            this.guard = parts.guard;
            this.requests = parts.requests;
            this.keepalive = parts.keepalive;
            this.limits = parts.limits;
            this.ring = parts.ring;
            this.outbound = parts.outbound;
            this.writeInterest = parts.outbound.writeInterest();
            this.messages = parts.messages;
            this.inbound = parts.inbound;
            this.registration = parts.registration;
            this.closing = parts.closing;
            this.handOff = parts.handOff;
            this.requestSender = parts.requestSender;
        } catch (NativeIoException | RuntimeException | Error e) {
            // Failing after the fd was acquired (an OutOfMemoryError, say) would leave its use held, and the
            // caller's close would only mark it closed: give the use back so the number is really closed.
            socket.fd().release();
            throw e;
        }
    }

    /**
     * Loop: tells the listener the connection is open, handles what has already arrived if {@code readFirst},
     * then registers with the poller.
     */
    void open(boolean readFirst) throws NativeIoException {
        outbound.opened();
        if (!guard.onOpen(this)) {
            closing.closeNow(new CloseReason(CloseReason.Kind.LOCAL_ABORT, "the listener's onOpen failed"));
            return;
        }
        // An accepted connection's bytes often come with it (a client's Hello is sent before the server even
        // accepts): read them now rather than after a trip through the poller, send what answering them (and
        // onOpen) queued, and only then register, so the answer is not held up by the poller's system call
        // either. A connection we made ourselves would mostly read nothing, so it skips the read. Either way
        // nothing is lost: a level-triggered poller reports bytes already waiting, and a busy-polling loop
        // reads every connection each cycle.
        if (readFirst && !inbound.readIn(false)) {
            handOff.readWhenBufferFree(); // the loop's receive buffer is lent out: we were adopted inside a read
        }
        outbound.writeOut();
        handOff.finishDetach(); // a broker's gate let go of the socket on the Hello it just read: never registered
        if (closing.state() != ConnectionState.CLOSED) {
            registration.register();
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Identity and typed state (any thread)
    // ---------------------------------------------------------------------------------------------------

    public long id() {
        return id;
    }

    /**
     * The settings of the transport this connection belongs to. The layers above read their defaults here (a
     * request's deadline, how long a send waits for room, whether a handler's failure is described to the peer),
     * so that a setting made on the transport holds for everything sent over its connections.
     */
    public TransportOptions options() {
        return options;
    }

    /** The endpoint this connection was made to (client) or accepted on (server). */
    public Endpoint endpoint() {
        return endpoint;
    }

    /**
     * The kernel-verified credentials of the peer; null on TCP, where the kernel knows none. They are asked of
     * the kernel when first wanted (a server's policy asks at once; most clients never do), so a connection
     * asked for the first time after it has closed has none to give either: null.
     */
    public PeerCredentials peerCredentials() {
        return peer.credentials();
    }

    /**
     * A new pidfd for the peer process where the kernel gives one ({@code SO_PEERPIDFD}, Linux 6.5+): unlike the
     * pid of {@link #peerCredentials()} it cannot come to name another process once the peer exits. The caller
     * owns it and closes it. Empty on TCP, on older kernels and other platforms, and once the socket is closed.
     */
    public java.util.Optional<FileDescriptor> peerPidfd() {
        return peer.pidfd();
    }

    /** The peer's address on TCP (for logs, and to tell peers apart where no credentials exist); null on Unix. */
    public java.net.SocketAddress remoteAddress() {
        return peer.remoteAddress();
    }

    public boolean isOpen() {
        return closing.state() == ConnectionState.OPEN;
    }

    /** The value stored under {@code key} on this connection, or null. */
    public <T> T attribute(AttributeKey<T> key) {
        return attributes.get(key);
    }

    /** Stores {@code value} under {@code key}; each layer owns its keys, so no layer can clobber another's. */
    public <T> void setAttribute(AttributeKey<T> key, T value) {
        attributes.set(key, value);
    }

    /** Stores {@code value} under {@code key} unless a value is there already; returns the value held. */
    public <T> T attributeIfAbsent(AttributeKey<T> key, T value) {
        return attributes.setIfAbsent(key, value);
    }

    /** Completes with the reason once the connection has fully closed. */
    public CompletableFuture<CloseReason> closeFuture() {
        return closing.closed();
    }

    /** Requests awaiting a reply right now. */
    public int inFlight() {
        return requests.inFlight();
    }

    // ---------------------------------------------------------------------------------------------------
    // For the layer above (loop work): the gate, negotiated limits, keepalive
    // ---------------------------------------------------------------------------------------------------

    /**
     * Loop work, from {@link FrameListener#onOpen}: until {@link #openGate()}, only what {@code gate} admits
     * reaches the listener (see {@link InboundGate}).
     */
    public void shutGate(InboundGate gate) {
        requireLoopWork("shutGate");
        inbound.shutGate(gate);
    }

    /** Loop work: every frame type is admitted from now on, and the gate's timeout is cancelled. */
    public void openGate() {
        requireLoopWork("openGate");
        inbound.openGate();
    }

    /**
     * Loop work: frames are at most {@code maxFrameBytes} from now on, both ways: this side sends none larger, and
     * a larger one from the peer is FRAME_TOO_LARGE (the limit both sides negotiated; it never rises).
     */
    public void limitFrameBytes(int maxFrameBytes) {
        requireLoopWork("limitFrameBytes");
        limits.limitFrameBytes(maxFrameBytes);
        inbound.limitFrameBytes(maxFrameBytes);
    }

    /**
     * Loop work: file descriptors may not travel on this connection from now on (the layer above did not
     * negotiate them). Sending some fails with {@link IllegalArgumentException}; fds that arrive are closed at
     * once and end the connection with a GOAWAY FD_MISMATCH.
     */
    public void refuseFds() {
        requireLoopWork("refuseFds");
        messages.refuseFds();
        inbound.refuseFds();
    }

    /**
     * Loop work: keepalive. When nothing has arrived for {@code intervalMs}, send a PING; when nothing has
     * arrived for {@code maxMissed} intervals in a row, the peer is declared dead: the connection closes with
     * {@link CloseReason.Kind#PEER_UNRESPONSIVE} and pending requests fail UNAVAILABLE. Called again, it
     * restarts keepalive on the new terms.
     */
    public void startKeepalive(long intervalMs, int maxMissed) {
        requireLoopWork("startKeepalive");
        keepalive.start(intervalMs, maxMissed);
    }

    /**
     * Queues one unfragmented frame of a type the layer above defines (HELLO, HELLO_REPLY, or its own); false
     * when the ring is full or the connection no longer open. The transport's own frame types have their own
     * methods and are refused here, so no layer can forge a reply or a GOAWAY.
     */
    public boolean offerFrame(byte type, DirectBuffer payload, int offset, int length) {
        if (TRANSPORT_TYPES[type & 0xFF]) {
            throw new IllegalArgumentException(FrameType.name(type) + " is sent by the transport itself");
        }
        limits.checkSingleFrame(length, 0);
        return closing.state().acceptsSends() && outbound.offer(type, 0, 0, 0, payload, offset, length);
    }

    /**
     * Ends the connection for a protocol reason: frames queued before (a Refused reply, say) are flushed, then
     * a GOAWAY naming {@code reason} and {@code message}, then the close. Any thread; idempotent.
     */
    public void closeWithGoAway(GoAwayReason reason, String message) {
        closeAsLoopWork(() -> closing.protocolError(reason, message));
    }

    /**
     * Loop work: lets go of the socket so that another process can take it over (a broker handing a checked
     * client to its backend). From now on nothing more reaches the listener; once the current read is done the
     * loop stops watching the socket, the connection closes without a GOAWAY, a shutdown or any other write,
     * and {@code then} gets the still open socket with every byte read but not yet handled; or null when the
     * connection closed first (the peer hung up, say).
     */
    public void detach(java.util.function.Consumer<DetachedSocket> then) {
        requireLoopWork("detach");
        handOff.detach(then);
    }

    /** Before {@link #open}: bytes a previous owner of the socket read and did not handle. */
    void seed(byte[] bytes) {
        inbound.seed(bytes);
    }

    private void requireLoopWork(String call) {
        if (!loop.inLoop()) {
            throw new IllegalStateException(call + " is loop work: call it from the connection's listener");
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Sending (any thread)
    // ---------------------------------------------------------------------------------------------------

    /**
     * Sends a one-way NOTIFY if the outbound ring has room now; false means backpressure (nothing was sent).
     * The payload must fit one frame ({@code maxFrameBytes} minus the header).
     */
    public boolean offerNotify(int capId, int methodId, DirectBuffer payload, int offset, int length) {
        limits.checkSingleFrame(length, 0);
        return closing.state().acceptsSends()
                && outbound.offer(FrameType.NOTIFY, 0, capId, methodId, payload, offset, length);
    }

    /**
     * A writer of NOTIFY batches for the calling thread: many frames written in place in the outbound ring, one
     * claim and one commit for them all (see {@link NotifyBatch}). Keep it and reuse it; one per thread.
     */
    public NotifyBatch notifyBatch() {
        return new NotifyBatch(outbound, ring, limits);
    }

    /**
     * Sends a one-way NOTIFY, waiting up to {@code timeoutMs} for ring space; larger payloads are fragmented.
     *
     * @throws StatusException RESOURCE_EXHAUSTED when the ring stayed full, UNAVAILABLE when closed
     */
    public void sendNotify(int capId, int methodId, DirectBuffer payload, int offset, int length, long timeoutMs) {
        sendNotify(capId, methodId, payload, offset, length, timeoutMs, (FileDescriptor[]) null);
    }

    /**
     * {@link #sendNotify(int, int, DirectBuffer, int, int, long)} with fds that belong to the message (Unix
     * sockets, FD_PASSING negotiated); they are duplicated, so the caller keeps its own.
     */
    public void sendNotify(int capId, int methodId, DirectBuffer payload, int offset, int length, long timeoutMs,
            FileDescriptor... fds) {
        // A fragmented notify needs an id to reassemble by; a single-frame one does not.
        long correlationId = length > limits.maxFramePayload() ? requests.nextCorrelationId() : 0;
        messages.sendWithin(FrameType.NOTIFY, correlationId, capId, methodId, payload, offset, length,
                fds, timeoutMs);
    }

    /** Sends a REQUEST and returns its reply; the default deadline is {@code requestTimeoutMs}. */
    public CompletableFuture<Response> request(int capId, int methodId, DirectBuffer payload, int offset,
            int length, FileDescriptor... fds) {
        return request(capId, methodId, payload, offset, length, options.requestTimeoutMs(), fds);
    }

    /**
     * Sends a REQUEST whose reply must arrive within {@code timeoutMs}; the future holds a copy of the reply.
     * It fails with a {@link StatusException}: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (too many in flight, or
     * the ring stayed full), UNAVAILABLE (the connection closed first, naming why), or the status of an ERROR
     * reply. Cancelling the future cancels the request ({@link #cancelRequest}).
     *
     * <p>The future completes as loop work (see {@link FrameListener}); use the {@code *Async} stages for slow
     * work. The fds are duplicated, so the caller keeps its own. A caller with many requests in flight that
     * wants no object per request uses the {@link ReplyHandler} form instead.
     */
    public CompletableFuture<Response> request(int capId, int methodId, DirectBuffer payload, int offset,
            int length, long timeoutMs, FileDescriptor... fds) {
        ReplyFuture reply = new ReplyFuture(this);
        try {
            reply.correlationId = request(capId, methodId, payload, offset, length, timeoutMs, reply, fds);
        } catch (StatusException e) {
            reply.completeExceptionally(e);
        }
        return reply;
    }

    /**
     * Sends a REQUEST whose reply must arrive within {@code timeoutMs}, and returns its correlation id;
     * {@code handler} hears the outcome as loop work, with the reply as a view over the receive buffer (no copy,
     * nothing allocated per request). Either this throws and the handler never hears of the request, or it
     * returns and the handler is called exactly once, unless {@link #cancelRequest} cancels it first.
     *
     * @throws StatusException RESOURCE_EXHAUSTED when {@code maxInFlight} requests are in flight or the ring
     *     stayed full, UNAVAILABLE when the connection is closing or closed
     */
    public long request(int capId, int methodId, DirectBuffer payload, int offset, int length, long timeoutMs,
            ReplyHandler handler) {
        return request(capId, methodId, payload, offset, length, timeoutMs, handler, (FileDescriptor[]) null);
    }

    /**
     * {@link #request(int, int, DirectBuffer, int, int, long, ReplyHandler)} with fds that belong to the request
     * (Unix sockets, FD_PASSING negotiated); they are duplicated, so the caller keeps its own.
     */
    public long request(int capId, int methodId, DirectBuffer payload, int offset, int length, long timeoutMs,
            ReplyHandler handler, FileDescriptor... fds) {
        return requestSender.send(capId, methodId, payload, offset, length, timeoutMs, handler, fds);
    }

    /**
     * Any thread: gives up on a request. True when it was still in flight: its handler is not called, its
     * in-flight slot is free again, and the peer is sent CANCEL so it can stop the work (an RPC handler sees its
     * call cancelled). False when its outcome had already been decided.
     */
    public boolean cancelRequest(long correlationId) {
        return requests.cancel(correlationId);
    }

    /**
     * Any thread: whether request {@code correlationId} still waits for its outcome (a moment's answer: it may be
     * decided the next instant). For a layer that keeps something per request and wants to let go of it once the
     * request is over.
     */
    public boolean isRequestPending(long correlationId) {
        return requests.isPending(correlationId);
    }

    /**
     * Any thread: hands {@code action} the {@link ReplyHandler} and correlation id of every request in flight, a
     * snapshot taken without stopping anyone (a request that starts or ends meanwhile may or may not be seen).
     * The layer above uses it to fail a group of its requests at once, such as every call on a cap the peer
     * revoked, without keeping a second table of them; it gets the id because one handler may serve many
     * requests, and {@link #cancelRequest} (which only the request's first outcome wins) needs the id. The pair
     * may be stale (the request ended, its slot serves another): cancelling a stale id does nothing.
     */
    public void forEachPendingRequest(ObjLongConsumer<? super ReplyHandler> action) {
        requests.forEachPending(action);
    }

    /**
     * Any thread: {@code handler} is handed, as loop work, each RESPONSE whose request nobody waits for any more
     * (cancelled, or past its deadline), with its correlation id; null (the default) drops them. For a layer whose
     * replies give the receiver something it must give back (the RPC layer's cap references): dropped unread, it
     * would be kept by the peer for the connection's life. The frame is a view valid during the call; its fds are
     * closed after it.
     */
    public void onLateReply(ObjLongConsumer<InboundFrame> handler) {
        requests.onLateReply(handler);
    }

    /**
     * {@link #request} and wait: returns the reply or throws its {@link StatusException}. Blocks, so it fails
     * at once where it may not ({@link #ensureMayBlock}); in invoker mode, on the owning thread, the wait
     * runs the loop.
     */
    public Response call(int capId, int methodId, DirectBuffer payload, int offset, int length, long timeoutMs,
            FileDescriptor... fds) {
        boolean drivesLoop = loop.ensureMayBlock("Connection.call()");
        CompletableFuture<Response> reply = request(capId, methodId, payload, offset, length, timeoutMs, fds);
        try {
            // The deadline timer completes the future; the extra second only guards against a stuck loop.
            return waitFor(reply, timeoutMs + 1000, drivesLoop);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof StatusException
                    ? (StatusException) e.getCause()
                    : new StatusException(StatusCode.INTERNAL, String.valueOf(e.getCause()), e.getCause());
        } catch (TimeoutException e) {
            throw new StatusException(StatusCode.DEADLINE_EXCEEDED, "no reply within " + timeoutMs + " ms");
        } catch (InterruptedException e) {
            reply.cancel(true); // the peer hears CANCEL: nobody waits for the reply any more
            Thread.currentThread().interrupt();
            throw new StatusException(StatusCode.CANCELLED, "interrupted while waiting for a reply");
        }
    }

    /**
     * The check a caller makes before it starts something it will then block on (a call, a stream it
     * consumes), so that a wait that may not happen sends nothing. Throws {@link IllegalStateException} at
     * once when nothing could end the wait: the caller is this connection's loop work, on a loop with its own
     * thread (see {@link LoopOwnership}), or in invoker mode a callback the owning thread runs while it polls
     * (the duty cycle it would wait for is the one running it). Returns true when the caller is the invoker's
     * owning thread outside its callbacks: its wait must run the loop, which {@link #await} does; false when
     * another thread runs the loop, and any wait will do. {@code call} names the call in the failure.
     */
    public boolean ensureMayBlock(Object call) {
        return loop.ensureMayBlock(call);
    }

    /**
     * Yields until {@code done} says true, for at most {@code capwire.parkAfterIdleMicros}; returns whether it is
     * done. How a thread about to block for something this connection's loop thread will deliver waits first: that
     * usually takes microseconds, and a blocked thread's wake-up costs more (see {@link SpinThenBlock}).
     */
    public boolean yieldUntil(java.util.function.BooleanSupplier done) {
        return SpinThenBlock.spin(done, TimeUnit.MICROSECONDS.toNanos(options.parkAfterIdleMicros()));
    }

    /**
     * Waits for {@code future} (a reply, a handshake) for at most {@code timeoutMs}. In invoker mode, on the
     * loop's own thread, this runs the loop meanwhile, since nothing else would; otherwise it yields for up to
     * {@code capwire.parkAfterIdleMicros} before it blocks; where a thread may not block it fails at once (see
     * {@link #ensureMayBlock}). An interrupt ends the wait.
     */
    public <T> T await(CompletableFuture<T> future, long timeoutMs)
            throws ExecutionException, TimeoutException, InterruptedException {
        return waitFor(future, timeoutMs, loop.ensureMayBlock("Connection.await()"));
    }

    private <T> T waitFor(CompletableFuture<T> future, long timeoutMs, boolean drivesLoop)
            throws ExecutionException, TimeoutException, InterruptedException {
        if (!drivesLoop) {
            yieldUntil(future::isDone);
            return future.get(timeoutMs, TimeUnit.MILLISECONDS);
        }
        loop.invoker().runUntil(future, TimeUnit.MILLISECONDS.toNanos(timeoutMs));
        if (!future.isDone()) {
            throw new TimeoutException(); // nobody else runs the loop: waiting on would only wait longer
        }
        return future.get();
    }

    /**
     * Replies to a REQUEST received by this side. As loop work (from the listener) it never waits; from another thread it waits at most {@code sendTimeoutMs} for room
     * (then RESOURCE_EXHAUSTED), so one client that stops reading cannot hold a shared executor for long.
     */
    public void respond(long correlationId, DirectBuffer payload, int offset, int length) {
        respond(correlationId, payload, offset, length, (FileDescriptor[]) null);
    }

    /**
     * {@link #respond(long, DirectBuffer, int, int)} with fds that belong to the reply; they are duplicated, so the
     * caller keeps its own.
     */
    public void respond(long correlationId, DirectBuffer payload, int offset, int length, FileDescriptor... fds) {
        messages.sendWithin(FrameType.RESPONSE, correlationId, 0, 0, payload, offset, length, fds,
                options.sendTimeoutMs());
    }

    /** Replies to a REQUEST with an error status and no reason; waits as {@link #respond} does. */
    public void respondError(long correlationId, StatusCode code, String message) {
        respondError(correlationId, code, "", message);
    }

    /**
     * Replies to a REQUEST with an error status, a machine-readable {@code reason} (see {@link StatusException#reason()})
     * and a message; waits as {@link #respond} does.
     */
    public void respondError(long correlationId, StatusCode code, String reason, String message) {
        UnsafeBuffer payload = ListenerGuard.errorPayload(code, reason, message);
        messages.sendWithin(FrameType.ERROR, correlationId, 0, 0, payload, 0, payload.capacity(), null,
                options.sendTimeoutMs());
    }

    // ---------------------------------------------------------------------------------------------------
    // Closing (any thread)
    // ---------------------------------------------------------------------------------------------------

    /**
     * Graceful close: fails pending requests, sends GOAWAY after what is queued, and returns once all of it
     * is handed to the kernel and our sending side is shut (at most {@code closeTimeoutMs}; at once when
     * called as loop work), which is what a socket's own close promises. On TCP the loop then keeps the
     * socket until the peer closes its side too (at most a second), so that a peer still sending gets no
     * reset; {@link #closeFuture()} completes then. On a Unix socket with nothing left unread the socket is
     * closed at once instead (the peer still reads everything we sent; see docs/wire-protocol.md), and
     * {@link #closeFuture()} is complete when this returns. In invoker mode the owning thread runs the loop
     * until the close completes (from a callback it returns at once, as loop work does); another thread never
     * runs the loop, only its owner may: it hands the close to the owner and waits, as above, for the owner's
     * polls to do it. Idempotent.
     */
    @Override
    public void close() {
        closeAsLoopWork(() -> closing.startClose(false));
        if (loop.drivenByCurrentThread()) {
            try {
                loop.invoker().runUntil(closing.closed(), TimeUnit.MILLISECONDS.toNanos(options.closeTimeoutMs() + 1000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt(); // the close goes on with the owner's next polls
            }
        } else if (!loop.inLoop()) {
            try {
                SpinThenBlock.spin(closing.sendingDone()::isDone,
                        TimeUnit.MICROSECONDS.toNanos(options.parkAfterIdleMicros()));
                closing.sendingDone().get(options.closeTimeoutMs() + 1000, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                abort();
            }
        }
    }

    /** The transport is stopping: a graceful close (GOAWAY SHUTTING_DOWN) without waiting for it. */
    void startShutdown() {
        closeAsLoopWork(() -> closing.startClose(true));
    }

    /** Abortive close: drops queued frames and closes the socket at once. Idempotent. */
    public void abort() {
        abort("aborted locally");
    }

    /** Any thread: an abortive close naming {@code why} (a handler off the loop failed with an Error, say). */
    void abort(String why) {
        closeAsLoopWork(() -> closing.closeNow(new CloseReason(CloseReason.Kind.LOCAL_ABORT, why)));
    }

    /**
     * A close is loop work. A loop that is stopping refuses it, and closes everything itself: it aborts every
     * connection it has, and one it never opened was released by {@link Transport} when the loop refused to open
     * it.
     */
    private void closeAsLoopWork(Runnable close) {
        try {
            loop.execute(close);
        } catch (IllegalStateException stopped) {
            // Closed already (see above).
        }
    }

    /**
     * The loop stopped before it could open this connection: its socket is all it took, and nobody but the
     * caller holds it yet.
     */
    void releaseUnopened() {
        closing.releaseUnopened();
    }

    // ---------------------------------------------------------------------------------------------------
    // The loop's side: what the event loop and the parts use
    // ---------------------------------------------------------------------------------------------------

    @Override
    void onReady(int ready) {
        if (EventLoop.readable(ready) && closing.state() != ConnectionState.CLOSED) {
            // A connection paused by backpressure still reads a hang-up: its end of stream ends the connection.
            inbound.readIn((ready & (Native.READY_HANGUP | Native.READY_ERROR)) != 0);
            handOff.finishDetach();
        }
        if (EventLoop.writable(ready) && closing.state() != ConnectionState.CLOSED) {
            outbound.writeOut();
        }
    }

    @Override
    void abort(CloseReason reason) {
        closing.closeNow(reason);
    }

    @Override
    int pollDirectly() {
        if (closing.state() == ConnectionState.CLOSED) {
            return 0;
        }
        long before = inbound.bytesReceived();
        inbound.readIn(false);
        handOff.finishDetach();
        int work = inbound.bytesReceived() != before || closing.state() == ConnectionState.CLOSED ? 1 : 0;
        if (writeInterest.isWanted() && closing.state() != ConnectionState.CLOSED) {
            outbound.writeOut();
        }
        return work;
    }

    @Override
    void flush() {
        outbound.flush();
    }

    @Override
    void flushStaged() {
        outbound.flushStaged();
    }

    @Override
    long fd() {
        return fd;
    }

    @Override
    int interest() {
        return registration.interest();
    }

    /** The guard of this connection's listener: its failure policy, for {@link OffLoopListener} to share. */
    ListenerGuard guard() {
        return guard;
    }

    /** Whether the outbound ring exists yet (for tests: a connection only its loop writes to never needs one). */
    boolean ringAllocated() {
        return ring.isAllocated();
    }

    /** For tests: the ring, to play a sender that outlives its connection (see {@link RingPool}). */
    OutboundRing outboundRing() {
        return ring;
    }

    @Override
    public String toString() {
        return "connection " + id + " (" + endpoint + ")";
    }
}
