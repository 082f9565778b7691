package dev.capwire.transport;

import dev.capwire.bindings.Errno;
import dev.capwire.bindings.Errors;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.wire.ClaimedFds;
import dev.capwire.wire.ErrorPayload;
import dev.capwire.wire.FrameDecoder;
import dev.capwire.wire.FrameHandler;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.GoAwayReason;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.collections.IntArrayQueue;
import org.agrona.collections.Long2ObjectHashMap;
import org.agrona.concurrent.ControlledMessageHandler;
import org.agrona.concurrent.ManyToOneConcurrentArrayQueue;
import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.ringbuffer.ManyToOneRingBuffer;
import org.agrona.concurrent.ringbuffer.RingBufferDescriptor;

/**
 * One live connection: a socket owned by an event loop, an outbound ring any thread may write frames into,
 * an in-place inbound decoder, and the table of this side's requests awaiting replies.
 *
 * <h2>Outbound</h2>
 * Senders claim space in a {@link ManyToOneRingBuffer} and write the frame straight into it, lock-free. The
 * loop drains the ring into a staging buffer and writes many frames with one syscall. Frames sent as
 * loop work (replies from a listener, control frames, an invoker-mode application) skip the ring
 * and go straight into staging while the ring is empty: nothing else could go before them. The ring is
 * allocated on the first send from another thread, so a connection that never has one (a handshake that is
 * refused, a server that only replies) never pays for its memory. A frame that carries
 * fds goes out alone with its own sendmsg, so its fds arrive with its first byte. A full ring is
 * backpressure: {@code offer*} methods return false, requests wait for space until their deadline.
 * Messages larger than one frame are split into fragments (see docs/wire-protocol.md).
 *
 * <h2>Inbound</h2>
 * The loop reads into a direct receive buffer (with recvmsg on Unix sockets, so fds are collected in
 * arrival order) and decodes frames in place. Each frame claims exactly the number of fds its header
 * declares; a frame that claims more than have arrived is a protocol error.
 */
public final class Connection implements EventLoop.Channel, AutoCloseable {
    private static final int MSG_FRAME = 1;
    private static final int MSG_FRAME_WITH_FDS = 2;
    private static final int OPEN = 0;
    private static final int CLOSING = 1;
    private static final int CLOSED = 2;
    private static final int READS_PER_WAKEUP = 4;
    /** How long a closing connection waits for the peer's end of stream after its GOAWAY went out. */
    private static final long LINGER_MS = 1000;
    private static final int PING_PAYLOAD_LENGTH = 8;
    /** Agrona's ManyToOneRingBuffer takes records of at most an eighth of its capacity. */
    private static final int RING_CAPACITY_PER_RECORD = 8;
    private static final VarHandle FLUSH_SCHEDULED;
    private static final VarHandle RING;
    private static final VarHandle NEW_PENDING;

    static {
        try {
            FLUSH_SCHEDULED = MethodHandles.lookup().findVarHandle(Connection.class, "flushScheduled", int.class);
            RING = MethodHandles.lookup().findVarHandle(Connection.class, "ring", ManyToOneRingBuffer.class);
            NEW_PENDING = MethodHandles.lookup().findVarHandle(Connection.class, "newPending",
                    ManyToOneConcurrentArrayQueue.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static final AtomicLong IDS = new AtomicLong();
    private static final IntConsumer CLOSE_FD = Native::close;
    /** Every graceful close says the same, so it is encoded once. */
    private static final UnsafeBuffer NORMAL_CLOSE_GOAWAY = new UnsafeBuffer(goAwayPayload(GoAwayReason.NORMAL_CLOSE,
            "closing"));
    /** Stands in for pooled buffers after close: any stray use fails its bounds check instead of sharing. */
    private static final UnsafeBuffer CLOSED_BUFFER = new UnsafeBuffer(new byte[0]);

    private final long id = IDS.incrementAndGet();
    private final EventLoop loop;
    private final TransportOptions options;
    private final FrameListener listener;
    private final BufferPool stagingPool;
    private final BufferPool receivePool;
    private final Endpoint endpoint;
    private final boolean unix;
    private final FileDescriptor socket;
    private final NativeSocket nativeSocket; // the same socket, for what is asked of it outside the loop
    private final int fd;
    private volatile PeerCredentials peer; // fetched when first asked for; see peerCredentials()
    private final java.net.SocketAddress remoteAddress;
    private long token;
    private boolean opened; // loop work only: open() has run, so flushes may write

    // Outbound: producers write the ring; the loop copies it into staging and writes staging to the socket.
    private volatile ManyToOneRingBuffer ring; // null until the first send from a thread other than the loop
    private final int maxRecordLength; // the ring's largest record, known before the ring exists
    private volatile int maxFramePayload; // lowered once by the handshake, before the application sends
    @SuppressWarnings("unused") // accessed through FLUSH_SCHEDULED
    private volatile int flushScheduled;
    private UnsafeBuffer staging; // from the transport's pool; back to it on close
    private int stagingStart;
    private int stagingEnd;
    private boolean sendBlocked;
    private boolean stagedFlushQueued; // loop work only: on the loop's list of connections to write out
    private boolean writeInterest;
    private final ControlledMessageHandler stager = this::stage;
    private final AtomicLong nextCorrelationId = new AtomicLong(1);

    // Inbound.
    private UnsafeBuffer receive; // from the transport's pool; back to it on close
    private final FrameDecoder decoder;
    private final IntArrayQueue arrivedFds = new IntArrayQueue();
    private final InboundFrame inbound = new InboundFrame();

    // Requests this side sent: registered by the loop from newPending, completed by replies or deadlines.
    private final Long2ObjectHashMap<PendingRequest> pending = new Long2ObjectHashMap<>();
    // Null until the first request: its maxInFlight slots cost a connection that never calls (a handshake-only
    // one, a server's) more to allocate and zero than the rest of its state.
    private volatile ManyToOneConcurrentArrayQueue<PendingRequest> newPending;
    private final AtomicInteger inFlight = new AtomicInteger();

    private volatile int state = OPEN;
    private volatile Object attachment;

    // The handshake gate (see awaitHandshake) and keepalive; loop work only.
    private boolean handshakePending;
    private long handshakeTimer = -1;
    private long lastReceivedNanos = System.nanoTime();
    private long keepaliveIntervalNanos;
    private int keepaliveMaxMissed;
    private long keepaliveTimer = -1;
    private long bytesReceived; // loop work only
    private boolean reading; // loop work only: in readIn, whose frames' listeners may close the connection
    private final UnsafeBuffer pingPayload = new UnsafeBuffer(new byte[PING_PAYLOAD_LENGTH]);

    private CloseReason closeReason;
    private long closeTimer = -1;
    private boolean lingering;
    private final CompletableFuture<CloseReason> closed = new CompletableFuture<>();
    /** Completes once our GOAWAY (and all before it) is handed to the kernel and our sending side is shut. */
    private final CompletableFuture<Void> sendingDone = new CompletableFuture<>();

    Connection(EventLoop loop, TransportOptions options, FrameListener listener, Endpoint endpoint,
            NativeSocket socket, BufferPool stagingPool, BufferPool receivePool) throws NativeIoException {
        this.loop = loop;
        this.stagingPool = stagingPool;
        this.receivePool = receivePool;
        this.options = options;
        this.listener = listener;
        this.endpoint = endpoint;
        this.unix = endpoint.isUnix();
        this.socket = socket.fd();
        this.nativeSocket = socket;
        this.fd = this.socket.acquire(); // held for the connection's life: the number stays ours until close
        this.remoteAddress = unix ? null : socket.remoteAddress();
        if (options.socketSendBufferBytes() > 0) {
            socket.setOption(Native.OPT_SNDBUF, options.socketSendBufferBytes());
        }
        if (options.socketReceiveBufferBytes() > 0) {
            socket.setOption(Native.OPT_RCVBUF, options.socketReceiveBufferBytes());
        }
        if (!unix) {
            socket.setOption(Native.OPT_TCP_NODELAY, 1);
        }
        this.maxRecordLength = options.ringBytes() / RING_CAPACITY_PER_RECORD;
        // A frame must fit one ring record, so the ring also bounds the frames this side sends.
        this.maxFramePayload = Math.min(options.maxFrameBytes(), maxRecordLength) - FrameHeader.HEADER_LENGTH;
        this.staging = stagingPool.take();
        this.receive = receivePool.take();
        this.decoder = new FrameDecoder(receive, options.maxFrameBytes(), options.maxMessageBytes(), unix,
                arrivedFds, new InboundHandler());
    }

    /**
     * Loop: tells the listener the connection is open, handles what has already arrived if {@code readFirst},
     * then registers with the poller.
     */
    void open(boolean readFirst) throws NativeIoException {
        opened = true;
        listener.onOpen(this);
        // An accepted connection's bytes often come with it (a client's Hello is sent before the server even
        // accepts): read them now rather than after a trip through the poller, send what answering them (and
        // onOpen) queued, and only then register, so the answer is not held up by the poller's system call
        // either. A connection we made ourselves would mostly read nothing, so it skips the read. Either way
        // nothing is lost: a level-triggered poller reports bytes already waiting, and a busy-polling loop
        // reads every connection each cycle.
        if (readFirst) {
            readIn();
        }
        writeOut();
        if (state != CLOSED) {
            token = loop.register(this, fd, interest());
        }
    }

    public long id() {
        return id;
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
        PeerCredentials known = peer;
        if (known != null || !unix) {
            return known;
        }
        try {
            known = nativeSocket.peerCredentials();
        } catch (NativeIoException e) {
            return null; // closed (FileDescriptor.ClosedException): the socket and what the kernel knew are gone
        }
        peer = known;
        return known;
    }

    /** The peer's address on TCP (for logs, and to tell peers apart where no credentials exist); null on Unix. */
    public java.net.SocketAddress remoteAddress() {
        return remoteAddress;
    }

    public boolean isOpen() {
        return state == OPEN;
    }

    /**
     * Waits for {@code future} (a reply, a handshake) for at most {@code timeoutMs}. In invoker mode, on the
     * loop's own thread, this runs the loop meanwhile, since nothing else would.
     */
    public <T> T await(CompletableFuture<T> future, long timeoutMs)
            throws ExecutionException, TimeoutException, InterruptedException {
        if (loop.isInvoker() && loop.inLoop()) {
            loop.runUntil(future, TimeUnit.MILLISECONDS.toNanos(timeoutMs));
        }
        return future.get(timeoutMs, TimeUnit.MILLISECONDS);
    }

    /** Loop, during the handshake: frames sent from now on are at most {@code maxFrameBytes} (the peer's limit). */
    public void limitFrameBytes(int maxFrameBytes) {
        if (maxFrameBytes <= FrameHeader.HEADER_LENGTH) {
            throw new IllegalArgumentException("maxFrameBytes must exceed the header: " + maxFrameBytes);
        }
        maxFramePayload = Math.min(maxFramePayload, maxFrameBytes - FrameHeader.HEADER_LENGTH);
    }

    /** The object a protocol layer above keeps with this connection (its handshake state, say); null at first. */
    public Object attachment() {
        return attachment;
    }

    public void attach(Object value) {
        attachment = value;
    }

    // ---------------------------------------------------------------------------------------------------
    // Hooks for the handshake layer (package handshake); the raw transport never calls them itself.
    // ---------------------------------------------------------------------------------------------------

    /**
     * Loop, from {@link FrameListener#onOpen}: until {@link #handshakeCompleted()}, only unfragmented HELLO,
     * HELLO_REPLY and GOAWAY frames are accepted; any other frame ends the connection with a HANDSHAKE_FAILED
     * GOAWAY, and so does a handshake still unfinished after {@code timeoutMs}.
     */
    public void awaitHandshake(long timeoutMs) {
        handshakePending = true;
        decoder.refuseFragments(GoAwayReason.HANDSHAKE_FAILED, "before the handshake completed");
        handshakeTimer = loop.timers().schedule(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs),
                id -> {
                    handshakeTimer = -1;
                    protocolError(GoAwayReason.HANDSHAKE_FAILED, "no handshake within " + timeoutMs + " ms");
                });
    }

    /** Loop: the handshake succeeded; every frame type is accepted from now on. */
    public void handshakeCompleted() {
        handshakePending = false;
        decoder.allowFragments();
        if (handshakeTimer != -1) {
            loop.timers().cancel(handshakeTimer);
            handshakeTimer = -1;
        }
    }

    /** Queues a HELLO or HELLO_REPLY frame carrying {@code message}; false when the ring is full or closed. */
    public boolean offerHandshakeFrame(byte type, byte[] message) {
        if (type != FrameType.HELLO && type != FrameType.HELLO_REPLY) {
            throw new IllegalArgumentException("not a handshake frame type: " + FrameType.name(type));
        }
        checkSingleFrame(message.length, 0);
        return state == OPEN
                && tryWriteFrame(type, 0, 0, 0, 0, new UnsafeBuffer(message), 0, message.length, null, 0);
    }

    /**
     * Ends the connection for a protocol reason: queued frames (a Refused reply, say) are flushed, then a
     * GOAWAY naming {@code reason} and {@code message}, then the close. Any thread; idempotent.
     */
    public void closeWithGoAway(GoAwayReason reason, String message) {
        loop.execute(() -> protocolError(reason, message));
    }

    /**
     * Loop: keepalive. When nothing has arrived for {@code intervalMs}, send a PING; when nothing has arrived
     * for {@code maxMissed} intervals in a row, the peer is declared dead (a stopped or wedged process keeps
     * its socket open, so the kernel alone would never tell us): the connection closes with
     * {@link CloseReason.Kind#PEER_UNRESPONSIVE} and pending requests fail UNAVAILABLE.
     */
    public void startKeepalive(long intervalMs, int maxMissed) {
        if (intervalMs <= 0 || maxMissed < 1) {
            throw new IllegalArgumentException("keepalive needs a positive interval and maxMissed >= 1");
        }
        keepaliveIntervalNanos = TimeUnit.MILLISECONDS.toNanos(intervalMs);
        keepaliveMaxMissed = maxMissed;
        lastReceivedNanos = System.nanoTime();
        scheduleKeepalive();
    }

    private void scheduleKeepalive() {
        keepaliveTimer = loop.timers().schedule(System.nanoTime() + keepaliveIntervalNanos, this::keepaliveTick);
    }

    private void keepaliveTick(long timerId) {
        keepaliveTimer = -1;
        if (state != OPEN) {
            return;
        }
        long silentNanos = System.nanoTime() - lastReceivedNanos;
        if (silentNanos >= keepaliveIntervalNanos * keepaliveMaxMissed) {
            closeNow(new CloseReason(CloseReason.Kind.PEER_UNRESPONSIVE, "nothing received for "
                    + TimeUnit.NANOSECONDS.toMillis(silentNanos) + " ms (" + keepaliveMaxMissed
                    + " keepalive intervals of " + TimeUnit.NANOSECONDS.toMillis(keepaliveIntervalNanos) + " ms)"));
            return;
        }
        if (silentNanos >= keepaliveIntervalNanos) {
            // Best effort: a ring too full for 32 bytes is already a backlog the peer must answer for.
            pingPayload.putLong(0, System.nanoTime());
            tryWriteFrame(FrameType.PING, 0, 0, 0, 0, pingPayload, 0, PING_PAYLOAD_LENGTH, null, 0);
        }
        scheduleKeepalive();
    }

    /** Completes with the reason once the connection has fully closed. */
    public CompletableFuture<CloseReason> closeFuture() {
        return closed;
    }

    /** Requests awaiting a reply right now. */
    public int inFlight() {
        return inFlight.get();
    }

    @Override
    public long kind() {
        return EventLoop.KIND_CONNECTION;
    }

    // ---------------------------------------------------------------------------------------------------
    // Sending (any thread)
    // ---------------------------------------------------------------------------------------------------

    /**
     * Sends a one-way NOTIFY if the outbound ring has room now; false means backpressure (nothing was sent).
     * The payload must fit one frame ({@code maxFrameBytes} minus the header).
     */
    public boolean offerNotify(int capId, int methodId, DirectBuffer payload, int offset, int length) {
        checkSingleFrame(length, 0);
        return state == OPEN
                && tryWriteFrame(FrameType.NOTIFY, 0, capId, methodId, 0, payload, offset, length, null, 0);
    }

    /**
     * Sends a one-way NOTIFY, waiting up to {@code timeoutMs} for ring space; larger payloads are fragmented.
     *
     * @throws StatusException RESOURCE_EXHAUSTED when the ring stayed full, UNAVAILABLE when closed
     */
    public void sendNotify(int capId, int methodId, DirectBuffer payload, int offset, int length, long timeoutMs) {
        // A fragmented notify needs an id to reassemble by; a single-frame one does not.
        long correlationId = length > maxFramePayload ? nextCorrelationId.getAndIncrement() : 0;
        sendMessage(FrameType.NOTIFY, correlationId, capId, methodId, payload, offset, length, null,
                System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs));
    }

    /** Sends a REQUEST and returns its reply; the default deadline is {@code requestTimeoutMs}. */
    public CompletableFuture<Response> request(int capId, int methodId, DirectBuffer payload, int offset,
            int length, FileDescriptor... fds) {
        return request(capId, methodId, payload, offset, length, options.requestTimeoutMs(), fds);
    }

    /**
     * Sends a REQUEST whose reply must arrive within {@code timeoutMs}. The future fails with a
     * {@link StatusException}: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (too many in flight, or the ring stayed
     * full), UNAVAILABLE (the connection closed first, naming why), or the status of an ERROR reply.
     *
     * <p>The future completes as loop work (see {@link FrameListener}); use the {@code *Async} stages for slow
     * work. The fds are duplicated, so the caller keeps its own.
     */
    public CompletableFuture<Response> request(int capId, int methodId, DirectBuffer payload, int offset,
            int length, long timeoutMs, FileDescriptor... fds) {
        if (state != OPEN) {
            return CompletableFuture.failedFuture(unavailable());
        }
        if (!tryAcquireInFlight()) {
            return CompletableFuture.failedFuture(new StatusException(StatusCode.RESOURCE_EXHAUSTED,
                    options.maxInFlight() + " requests already in flight on " + this + " (capwire.maxInFlight)"));
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        PendingRequest request = new PendingRequest(nextCorrelationId.getAndIncrement(), deadline);
        ManyToOneConcurrentArrayQueue<PendingRequest> queue = newPending();
        while (!queue.offer(request)) {
            Thread.onSpinWait(); // bounded by maxInFlight: the loop drains it every duty cycle
        }
        try {
            sendMessage(FrameType.REQUEST, request.correlationId, capId, methodId, payload, offset, length, fds,
                    deadline);
        } catch (StatusException e) {
            request.fail(e); // the loop drops it from the table when it sees it completed
        }
        return request.future;
    }

    /** {@link #request} and wait: returns the reply or throws its {@link StatusException}. */
    public Response call(int capId, int methodId, DirectBuffer payload, int offset, int length, long timeoutMs,
            FileDescriptor... fds) {
        CompletableFuture<Response> reply = request(capId, methodId, payload, offset, length, timeoutMs, fds);
        try {
            // The deadline timer completes the future; the extra second only guards against a stuck loop.
            return await(reply, timeoutMs + 1000);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof StatusException
                    ? (StatusException) e.getCause()
                    : new StatusException(StatusCode.INTERNAL, String.valueOf(e.getCause()), e.getCause());
        } catch (TimeoutException e) {
            throw new StatusException(StatusCode.DEADLINE_EXCEEDED, "no reply within " + timeoutMs + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StatusException(StatusCode.CANCELLED, "interrupted while waiting for a reply");
        }
    }

    /** Replies to a REQUEST received by this side; fds are duplicated (the caller keeps its own). */
    public void respond(long correlationId, DirectBuffer payload, int offset, int length, FileDescriptor... fds) {
        sendMessage(FrameType.RESPONSE, correlationId, 0, 0, payload, offset, length, fds,
                System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(options.requestTimeoutMs()));
    }

    /** Replies to a REQUEST with an error status. */
    public void respondError(long correlationId, StatusCode code, String message) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[ErrorPayload.encodedLength(message)]);
        int length = ErrorPayload.encode(payload, 0, code, message);
        sendMessage(FrameType.ERROR, correlationId, 0, 0, payload, 0, length, null,
                System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(options.requestTimeoutMs()));
    }

    private void checkSingleFrame(int length, int fdCount) {
        if (length > maxFramePayload) {
            throw new IllegalArgumentException("payload of " + length + " bytes exceeds one frame ("
                    + maxFramePayload + "); use the sending methods that fragment");
        }
        if (fdCount > Native.MAX_FDS_PER_MESSAGE) {
            throw new IllegalArgumentException("at most " + Native.MAX_FDS_PER_MESSAGE + " fds per message");
        }
    }

    /**
     * Writes one message as one or more frames, waiting for ring space until {@code deadlineNanos}. Once the
     * first fragment is in the ring, the rest must follow or the peer would wait forever for them: a
     * connection whose ring stays full mid-message is aborted.
     */
    private void sendMessage(byte type, long correlationId, int capId, int methodId, DirectBuffer payload,
            int offset, int length, FileDescriptor[] fds, long deadlineNanos) {
        if (state != OPEN) {
            throw unavailable(); // nothing may follow our GOAWAY
        }
        int fdCount = fds == null ? 0 : fds.length;
        if (fdCount > 0 && !unix) {
            throw new IllegalArgumentException("fds can only be passed over Unix-domain sockets");
        }
        checkSingleFrame(0, fdCount);
        if (length > options.maxMessageBytes()) {
            throw new StatusException(StatusCode.RESOURCE_EXHAUSTED, "message of " + length
                    + " bytes exceeds capwire.maxMessageBytes=" + options.maxMessageBytes());
        }
        int[] duplicated = fdCount == 0 ? null : duplicate(fds);
        int sent = 0;
        boolean first = true;
        try {
            do {
                // The first fragment's record also carries its fd numbers, 4 bytes each, after the frame.
                int limit = first && fdCount > 0
                        ? Math.min(maxFramePayload, maxRecordLength - FrameHeader.HEADER_LENGTH - fdCount * 4)
                        : maxFramePayload;
                int chunk = Math.min(limit, length - sent);
                boolean more = sent + chunk < length;
                int flags = more ? FrameHeader.FLAG_MORE_FRAGMENTS : 0;
                int[] frameFds = first ? duplicated : null;
                int frameFdCount = first ? fdCount : 0;
                while (!tryWriteFrame(type, correlationId, capId, methodId, flags, payload, offset + sent, chunk,
                        frameFds, frameFdCount)) {
                    if (state != OPEN) {
                        throw unavailable();
                    }
                    if (loop.inLoop()) {
                        // The loop is the ring's consumer: nobody else will make room, so drain it here,
                        // waiting for the socket if it must (this stalls the loop: send big replies off it).
                        writeOut();
                        if (writeInterest && state == OPEN) {
                            Native.waitReady(fd, Native.INTEREST_WRITE, 1);
                        }
                    }
                    if (System.nanoTime() - deadlineNanos >= 0) {
                        if (!first) {
                            abort("outbound ring stayed full in the middle of a fragmented message");
                        }
                        throw new StatusException(StatusCode.RESOURCE_EXHAUSTED, "outbound ring of " + this
                                + " stayed full (is the peer reading?)");
                    }
                    if (!loop.inLoop()) {
                        Thread.yield();
                    }
                }
                first = false;
                sent += chunk;
            } while (sent < length);
        } finally {
            if (first && duplicated != null) {
                for (int number : duplicated) {
                    Native.close(number); // never handed to the ring
                }
            }
        }
    }

    private static int[] duplicate(FileDescriptor[] fds) {
        int[] numbers = new int[fds.length];
        int done = 0;
        try {
            for (; done < fds.length; done++) {
                int number = fds[done].acquire();
                try {
                    numbers[done] = Errors.check(Native.dup(number), "dup", fds[done]);
                } finally {
                    fds[done].release();
                }
            }
            return numbers;
        } catch (NativeIoException e) {
            for (int i = 0; i < done; i++) {
                Native.close(numbers[i]);
            }
            throw new StatusException(StatusCode.INVALID_ARGUMENT, "cannot pass " + e.getMessage(), e);
        }
    }

    /**
     * Writes one frame (plus its fd numbers after it) into the ring, or as loop work straight into
     * staging when it can; false when there is no room.
     */
    private boolean tryWriteFrame(byte type, long correlationId, int capId, int methodId, int flags,
            DirectBuffer payload, int offset, int length, int[] fds, int fdCount) {
        int frameLength = FrameHeader.HEADER_LENGTH + length;
        if (fdCount == 0 && loop.inLoop()
                && tryStage(type, correlationId, capId, methodId, flags, payload, offset, length, frameLength)) {
            return true;
        }
        ManyToOneRingBuffer ring = ring();
        int recordLength = frameLength + fdCount * 4;
        int index = ring.tryClaim(fdCount == 0 ? MSG_FRAME : MSG_FRAME_WITH_FDS, recordLength);
        if (index <= 0) {
            return false;
        }
        MutableDirectBuffer buffer = ring.buffer();
        FrameHeader.write(buffer, index, frameLength, type, flags, correlationId, capId, methodId, fdCount);
        if (length > 0) {
            buffer.putBytes(index + FrameHeader.HEADER_LENGTH, payload, offset, length);
        }
        for (int i = 0; i < fdCount; i++) {
            buffer.putInt(index + frameLength + i * 4, fds[i]);
        }
        ring.commit(index);
        scheduleFlushIfIdle();
        return true;
    }

    /**
     * Loop work: puts the frame straight into staging, after whatever is staged already. Only while the ring
     * is empty, since frames waiting there were sent first; fd-carrying frames never come here (they leave
     * alone, through the ring).
     */
    private boolean tryStage(byte type, long correlationId, int capId, int methodId, int flags,
            DirectBuffer payload, int offset, int length, int frameLength) {
        ManyToOneRingBuffer queued = ring;
        if (queued != null && queued.producerPosition() != queued.consumerPosition()) {
            return false;
        }
        if (stagingEnd + frameLength > staging.capacity()) {
            return false; // CLOSED_BUFFER has no room at all
        }
        FrameHeader.write(staging, stagingEnd, frameLength, type, flags, correlationId, capId, methodId, 0);
        if (length > 0) {
            staging.putBytes(stagingEnd + FrameHeader.HEADER_LENGTH, payload, offset, length);
        }
        stagingEnd += frameLength;
        if (!stagedFlushQueued) {
            stagedFlushQueued = true; // the loop's own list: no fence, no CAS, no concurrent queue
            loop.flushStagedLater(this);
        }
        return true;
    }

    /** Whether the outbound ring exists yet (for tests: a connection only its loop writes to never needs one). */
    boolean ringAllocated() {
        return ring != null;
    }

    /** The outbound ring, allocated by whichever thread first needs it. */
    private ManyToOneRingBuffer ring() {
        ManyToOneRingBuffer existing = ring;
        return existing != null ? existing : createOnce(RING, new ManyToOneRingBuffer(new UnsafeBuffer(
                BufferUtil.allocateDirectAligned(options.ringBytes() + RingBufferDescriptor.TRAILER_LENGTH, 64))));
    }

    /**
     * Stores {@code created} in the still-null field {@code field} names, unless another thread got there first;
     * returns whichever is stored. For what a connection allocates only when first needed.
     */
    @SuppressWarnings("unchecked")
    private <T> T createOnce(VarHandle field, T created) {
        return field.compareAndSet(this, null, created) ? created : (T) field.getVolatile(this);
    }

    /**
     * Makes sure the loop will drain the ring. The fence pairs with the volatile clear in {@link #flush()}:
     * either this side sees the flag cleared and schedules, or the loop's drain sees the frame just committed.
     * Without it both could read stale values (a store then a load, on each side) and the frame would sit in
     * the ring until some later send.
     */
    private void scheduleFlushIfIdle() {
        VarHandle.fullFence();
        if ((int) FLUSH_SCHEDULED.getOpaque(this) == 0 && FLUSH_SCHEDULED.compareAndSet(this, 0, 1)) {
            loop.scheduleFlush(this);
        }
    }

    private boolean tryAcquireInFlight() {
        for (;;) {
            int current = inFlight.get();
            if (current >= options.maxInFlight()) {
                return false;
            }
            if (inFlight.compareAndSet(current, current + 1)) {
                return true;
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // The loop's side
    // ---------------------------------------------------------------------------------------------------

    @Override
    public void onReady(int ready) {
        if (EventLoop.readable(ready) && state != CLOSED) {
            readIn();
        }
        if (EventLoop.writable(ready) && state != CLOSED) {
            writeOut();
        }
    }

    /** Loop: write out what {@link #tryStage} put into staging. */
    void flushStaged() {
        stagedFlushQueued = false;
        if (opened && state != CLOSED) {
            writeOut();
        }
    }

    /** Loop: drain the ring into the socket (called when producers scheduled a flush). */
    void flush() {
        FLUSH_SCHEDULED.setVolatile(this, 0); // cleared first, so a frame written from now on schedules again
        if (state == CLOSED) {
            discardRing();
            return;
        }
        if (opened) {
            writeOut(); // else open() writes out, once the listener has heard onOpen
        }
    }

    private void writeOut() {
        if (state == CLOSED) {
            return; // the staging buffer is back in the pool
        }
        registerNewRequests();
        for (;;) {
            if (stagingEnd > stagingStart) {
                int written = Native.write(fd, staging.addressOffset() + stagingStart, stagingEnd - stagingStart);
                if (written == -Errno.EAGAIN) {
                    wantWrite(true);
                    return;
                }
                if (written < 0) {
                    closeNow(ioError("write", written));
                    return;
                }
                stagingStart += written;
                if (stagingStart < stagingEnd) {
                    wantWrite(true);
                    return;
                }
                stagingStart = 0;
                stagingEnd = 0;
            }
            sendBlocked = false;
            ManyToOneRingBuffer queued = ring;
            long consumedBefore = queued == null ? 0 : queued.consumerPosition();
            if (queued != null) {
                queued.controlledRead(stager);
            }
            if (state == CLOSED) {
                return;
            }
            if (sendBlocked) {
                wantWrite(true);
                return;
            }
            // Progress is the consumer position moving, not the record count: a read that only steps over
            // the padding at the ring's end returns 0 records, and stopping there would strand every frame
            // written after the wrap until some later send.
            if ((queued == null || queued.consumerPosition() == consumedBefore) && stagingEnd == 0) {
                wantWrite(false);
                if (state == CLOSING) {
                    finishClose();
                }
                return;
            }
        }
    }

    /** Copies ring records into staging; an fd-carrying frame is sent on its own with sendmsg. */
    private ControlledMessageHandler.Action stage(int msgTypeId, MutableDirectBuffer buffer, int index, int length) {
        if (msgTypeId == MSG_FRAME) {
            if (stagingEnd + length > staging.capacity()) {
                return ControlledMessageHandler.Action.ABORT; // write what is staged first
            }
            staging.putBytes(stagingEnd, buffer, index, length);
            stagingEnd += length;
            return ControlledMessageHandler.Action.CONTINUE;
        }
        if (stagingEnd > 0) {
            return ControlledMessageHandler.Action.ABORT; // earlier bytes must leave before this frame's fds
        }
        int frameLength = FrameHeader.frameLength(buffer, index);
        int fdCount = (length - frameLength) / 4;
        int sent = Native.sendFds(fd, buffer.addressOffset() + index, frameLength,
                buffer.addressOffset() + index + frameLength, fdCount);
        if (sent == -Errno.EAGAIN) {
            sendBlocked = true;
            return ControlledMessageHandler.Action.ABORT;
        }
        closeRecordFds(buffer, index + frameLength, fdCount); // the peer has its own references now
        if (sent < 0) {
            closeNow(ioError("sendmsg", sent));
            return ControlledMessageHandler.Action.BREAK;
        }
        // The fds went with the first byte; the rest of the frame is ordinary bytes.
        staging.putBytes(0, buffer, index + sent, frameLength - sent);
        stagingEnd = frameLength - sent;
        return ControlledMessageHandler.Action.BREAK;
    }

    private static void closeRecordFds(DirectBuffer buffer, int at, int count) {
        for (int i = 0; i < count; i++) {
            Native.close(buffer.getInt(at + i * 4));
        }
    }

    private void discardRing() {
        ManyToOneRingBuffer queued = ring;
        if (queued == null) {
            return;
        }
        queued.read((msgTypeId, buffer, index, length) -> {
            if (msgTypeId == MSG_FRAME_WITH_FDS) {
                int frameLength = FrameHeader.frameLength(buffer, index);
                closeRecordFds(buffer, index + frameLength, (length - frameLength) / 4);
            }
        }, Integer.MAX_VALUE);
    }

    private void wantWrite(boolean want) {
        if (want == writeInterest || state == CLOSED) {
            return;
        }
        writeInterest = want;
        if (token == 0) {
            return; // not registered yet: open() registers with interest()
        }
        try {
            loop.modify(fd, interest(), token);
        } catch (NativeIoException e) {
            closeNow(new CloseReason(CloseReason.Kind.IO_ERROR, e.getMessage()));
        }
    }

    /**
     * Loop, busy-polling: reads whatever has arrived and, while the socket was full, writes what waits, all
     * without the poller; 1 if anything happened, else 0.
     */
    int pollDirectly() {
        if (state == CLOSED) {
            return 0;
        }
        long before = bytesReceived;
        readIn();
        int work = bytesReceived != before || state == CLOSED ? 1 : 0;
        if (writeInterest && state != CLOSED) {
            writeOut();
        }
        return work;
    }

    int fd() {
        return fd;
    }

    /** What this connection wants the poller to report: always reads, writes while the socket is full. */
    int interest() {
        return Native.INTEREST_READ | (writeInterest ? Native.INTEREST_WRITE : 0);
    }

    private void readIn() {
        reading = true;
        try {
            readSome();
        } finally {
            reading = false;
            if (state == CLOSED) {
                releaseReceiveBuffer(); // closed by a listener during this read; see closeNow
            }
        }
    }

    private void releaseReceiveBuffer() {
        if (receive != CLOSED_BUFFER) {
            receivePool.give(receive);
            receive = CLOSED_BUFFER;
        }
    }

    private void readSome() {
        for (int reads = 0; reads < READS_PER_WAKEUP && state != CLOSED; reads++) {
            int space = decoder.writableBytes();
            long at = receive.addressOffset() + decoder.writeOffset();
            int received;
            if (unix) {
                UnsafeBuffer fdScratch = loop.fdScratch();
                long fdsAddress = fdScratch.addressOffset();
                received = Native.recvFds(fd, at, space, fdsAddress, Native.MAX_FDS_PER_MESSAGE,
                        fdsAddress + Native.MAX_FDS_PER_MESSAGE * 4L);
                if (received == -Errno.EMSGSIZE) {
                    protocolError(GoAwayReason.FD_MISMATCH, "more than " + Native.MAX_FDS_PER_MESSAGE
                            + " fds in one message (the kernel dropped some; all were closed)");
                    return;
                }
                int fdCount = received >= 0 ? fdScratch.getInt(Native.MAX_FDS_PER_MESSAGE * 4) : 0;
                for (int i = 0; i < fdCount; i++) {
                    if (decoder.isStopped()) {
                        Native.close(fdScratch.getInt(i * 4)); // nobody will claim them any more
                    } else {
                        arrivedFds.addInt(fdScratch.getInt(i * 4));
                    }
                }
            } else {
                received = Native.read(fd, at, space);
            }
            if (received == -Errno.EAGAIN) {
                return;
            }
            if (received < 0) {
                // While closing, a reset is just the peer's way of finishing: keep the reason we closed for.
                closeNow(state == OPEN ? ioError(unix ? "recvmsg" : "read", received) : closeReason);
                return;
            }
            if (received == 0) {
                closeNow(closeReason != null ? closeReason
                        : new CloseReason(CloseReason.Kind.REMOTE_CLOSE, "the peer closed the connection"));
                return;
            }
            if (keepaliveIntervalNanos != 0) {
                lastReceivedNanos = System.nanoTime(); // only keepalive asks, and a clock read is ~20 ns a read
            }
            bytesReceived += received;
            decoder.onBytesReceived(received);
            if (arrivedFds.size() > Native.MAX_FDS_PER_MESSAGE && state != CLOSED) {
                // Only the frame whose header is still incomplete may have fds waiting, at most 253 of them;
                // more are fds sent with frames that declared none, and keeping them would let a peer use up
                // this process's fd table.
                int unclaimed = arrivedFds.size();
                while (!arrivedFds.isEmpty()) {
                    Native.close(arrivedFds.pollInt());
                }
                protocolError(GoAwayReason.FD_MISMATCH, unclaimed + " fds arrived that no frame declared");
                return;
            }
            if (received < space) {
                return; // drained for now; level-triggered polling brings us back when more arrives
            }
        }
    }

    private final class InboundHandler implements FrameHandler {
        @Override
        public void onFrame(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength,
                ClaimedFds fds) {
            try {
                dispatch(header, buffer, payloadOffset, payloadLength, fds);
            } finally {
                fds.releaseAll(CLOSE_FD); // whatever the receiver did not take
            }
        }

        @Override
        public void onError(GoAwayReason reason, String message) {
            protocolError(reason, message);
        }
    }

    private void dispatch(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength,
            ClaimedFds fds) {
        if (state == CLOSED) {
            return;
        }
        byte type = header.type();
        if (handshakePending && type != FrameType.HELLO && type != FrameType.HELLO_REPLY
                && type != FrameType.GOAWAY) {
            protocolError(GoAwayReason.HANDSHAKE_FAILED, FrameType.name(type) + " before the handshake completed");
            return;
        }
        switch (type) {
            case FrameType.RESPONSE:
            case FrameType.ERROR:
                completeRequest(type, header.correlationId(), buffer, payloadOffset, payloadLength, fds);
                return;
            case FrameType.PING:
                if (state != OPEN) {
                    return;
                }
                tryWriteFrame(FrameType.PONG, header.correlationId(), 0, 0, 0, buffer, payloadOffset, payloadLength,
                        null, 0);
                return;
            case FrameType.PONG:
                return;
            case FrameType.GOAWAY:
                closeNow(state != OPEN ? closeReason : new CloseReason(CloseReason.Kind.REMOTE_CLOSE,
                        "peer sent GOAWAY: " + describeGoAway(buffer, payloadOffset, payloadLength)));
                return;
            default:
                if (state != OPEN) {
                    return; // closing: requests that arrive now would get no reply anyway
                }
                inbound.set(type, header.correlationId(), header.capId(), header.methodId(), buffer, payloadOffset,
                        payloadLength, fds);
                listener.onFrame(this, inbound);
        }
    }

    private static String describeGoAway(DirectBuffer buffer, int offset, int length) {
        byte[] bytes = new byte[length];
        buffer.getBytes(offset, bytes);
        try {
            dev.capwire.wire.proto.GoAway goAway = dev.capwire.wire.proto.GoAway.parseFrom(bytes);
            return goAway.getReason() + (goAway.getMessage().isEmpty() ? "" : " (" + goAway.getMessage() + ")");
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            return "unreadable GOAWAY payload";
        }
    }

    /** Loop: moves the requests producers have queued into the table and starts their deadline timers. */
    private void registerNewRequests() {
        ManyToOneConcurrentArrayQueue<PendingRequest> queue = newPending;
        PendingRequest request;
        while (queue != null && (request = queue.poll()) != null) {
            register(request);
        }
    }

    /** The queue of requests the loop has not registered yet, allocated by whichever thread first calls. */
    private ManyToOneConcurrentArrayQueue<PendingRequest> newPending() {
        ManyToOneConcurrentArrayQueue<PendingRequest> existing = newPending;
        // A request is queued only after taking an in-flight slot, so maxInFlight entries always suffice.
        return existing != null ? existing
                : createOnce(NEW_PENDING, new ManyToOneConcurrentArrayQueue<>(Math.max(16, options.maxInFlight())));
    }

    /**
     * Loop: registers every queued request, including any whose producer has claimed a queue slot but not
     * yet stored into it. poll() stops at such a hole, yet a later producer's request (and its reply) can be
     * past it; without this wait that reply would find no request and be dropped, and its caller would see
     * DEADLINE_EXCEEDED. The wait is short and bounded: the producer is between two instructions, and no new
     * producer can join while the loop is here, because only the loop releases in-flight slots.
     */
    private void registerAllRequests() {
        ManyToOneConcurrentArrayQueue<PendingRequest> queue = newPending;
        while (queue != null && !queue.isEmpty()) {
            PendingRequest request = queue.poll();
            if (request == null) {
                Thread.onSpinWait();
            } else {
                register(request);
            }
        }
    }

    private void register(PendingRequest request) {
        if (request.future.isDone()) {
            inFlight.decrementAndGet(); // its send failed; the caller already has the failure
            return;
        }
        pending.put(request.correlationId, request);
        request.timerId = loop.timers().schedule(request.deadlineNanos, request);
    }

    private void completeRequest(byte type, long correlationId, DirectBuffer buffer, int offset, int length,
            ClaimedFds claimed) {
        PendingRequest request = pending.remove(correlationId);
        if (request == null) {
            registerAllRequests(); // the reply may have overtaken the loop's registration of the request
            request = pending.remove(correlationId);
        }
        if (request == null) {
            return; // a reply after its deadline: nobody is waiting for it (its fds are closed by the caller)
        }
        loop.timers().cancel(request.timerId);
        inFlight.decrementAndGet();
        if (type == FrameType.RESPONSE) {
            byte[] payload = new byte[length];
            buffer.getBytes(offset, payload);
            int[] numbers = claimed.takeAll();
            FileDescriptor[] fds = new FileDescriptor[numbers.length];
            for (int i = 0; i < numbers.length; i++) {
                fds[i] = FileDescriptor.adopt(numbers[i]);
            }
            request.future.complete(new Response(payload, fds));
        } else {
            request.fail(new StatusException(ErrorPayload.code(buffer, offset, length),
                    ErrorPayload.message(buffer, offset, length)));
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Closing
    // ---------------------------------------------------------------------------------------------------

    /**
     * Graceful close: fails pending requests, sends GOAWAY after what is queued, and returns once all of it
     * is handed to the kernel and our sending side is shut (at most {@code closeTimeoutMs}; at once when
     * called on the event loop), which is what a socket's own close promises. On TCP the loop then keeps the
     * socket until the peer closes its side too (at most a second), so that a peer still sending gets no
     * reset; {@link #closeFuture()} completes then. On a Unix socket with nothing left unread the socket is
     * closed at once instead (the peer still reads everything we sent; see docs/wire-protocol.md), and
     * {@link #closeFuture()} is complete when this returns. In invoker mode nothing else runs the loop, so
     * close() runs it until the close completes. Idempotent.
     */
    @Override
    public void close() {
        loop.execute(this::startClose);
        if (loop.isInvoker()) {
            loop.runUntil(closed, TimeUnit.MILLISECONDS.toNanos(options.closeTimeoutMs() + 1000));
        } else if (!loop.inLoop()) {
            try {
                SpinThenBlock.spin(sendingDone::isDone, TimeUnit.MICROSECONDS.toNanos(options.parkAfterIdleMicros()));
                sendingDone.get(options.closeTimeoutMs() + 1000, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                abort();
            }
        }
    }

    /** Starts a graceful close without waiting for it (see {@link #closeFuture()}). */
    void loopExecuteClose() {
        loop.execute(this::startClose);
    }

    /** Abortive close: drops queued frames and closes the socket at once. Idempotent. */
    public void abort() {
        abort("aborted locally");
    }

    private void abort(String why) {
        loop.execute(() -> closeNow(new CloseReason(CloseReason.Kind.LOCAL_ABORT, why)));
    }

    private void startClose() {
        if (state != OPEN) {
            return;
        }
        closeReason = new CloseReason(CloseReason.Kind.LOCAL_CLOSE, "closed locally");
        sendGoAway(NORMAL_CLOSE_GOAWAY);
        state = CLOSING;
        failPending();
        closeTimer = loop.timers().schedule(System.nanoTime()
                + TimeUnit.MILLISECONDS.toNanos(options.closeTimeoutMs()), id -> closeNow(new CloseReason(
                        CloseReason.Kind.LOCAL_ABORT, "close timed out with frames still unsent")));
        writeOut();
    }

    /**
     * Everything up to our GOAWAY is written: shut down our sending side and linger, reading and discarding,
     * until the peer closes too or the linger time passes. Closing at once while the peer's bytes sit unread
     * in our receive queue makes the kernel reset the connection, and the peer may then never read the
     * GOAWAY that says why (seen with a peer flooding a fragmented message).
     */
    private void finishClose() {
        if (lingering) {
            return;
        }
        if (unix && closeReason.kind() == CloseReason.Kind.LOCAL_CLOSE && !reading) {
            // A Unix socket keeps what we sent readable for the peer after we close: only bytes left unread
            // in our own queue would turn its end of stream into a reset. With nothing unread (one read
            // tells), a graceful close closes now, and nobody has to wait for, or later notice, the peer's
            // close. Not after a protocol error: a peer that is flooding us would fail its write and might
            // never read the GOAWAY that says why, so that close lingers like every close on TCP. Nor from
            // a listener called by a read, which is still consuming what arrived.
            long before = bytesReceived;
            readIn();
            if (state != CLOSED && bytesReceived == before) {
                closeNow(closeReason);
            }
            if (state == CLOSED) {
                return; // closed by us now, or by the peer's close the read found
            }
        }
        lingering = true;
        Native.shutdown(fd, false, true);
        sendingDone.complete(null);
        if (closeTimer != -1) {
            loop.timers().cancel(closeTimer);
        }
        closeTimer = loop.timers().schedule(System.nanoTime()
                + TimeUnit.MILLISECONDS.toNanos(Math.min(LINGER_MS, options.closeTimeoutMs())),
                id -> closeNow(closeReason));
    }

    private void protocolError(GoAwayReason reason, String message) {
        if (state == CLOSED) {
            return;
        }
        closeReason = new CloseReason(CloseReason.Kind.PROTOCOL_ERROR, reason + ": " + message);
        decoder.stop();
        sendGoAway(reason, message);
        state = CLOSING;
        failPending();
        closeTimer = loop.timers().schedule(System.nanoTime()
                + TimeUnit.MILLISECONDS.toNanos(options.closeTimeoutMs()), id -> closeNow(closeReason));
        writeOut();
    }

    private void sendGoAway(GoAwayReason reason, String message) {
        sendGoAway(new UnsafeBuffer(goAwayPayload(reason, message)));
    }

    private void sendGoAway(UnsafeBuffer payload) {
        // Best effort: with the ring full the peer learns of the close from the socket alone.
        tryWriteFrame(FrameType.GOAWAY, 0, 0, 0, 0, payload, 0, payload.capacity(), null, 0);
    }

    private static byte[] goAwayPayload(GoAwayReason reason, String message) {
        return dev.capwire.wire.proto.GoAway.newBuilder().setReason(reason).setMessage(message).build().toByteArray();
    }

    /** Loop: close the socket now and release everything the connection holds. */
    private void closeNow(CloseReason reason) {
        if (state == CLOSED) {
            return;
        }
        state = CLOSED;
        closeReason = reason;
        if (closeTimer != -1) {
            loop.timers().cancel(closeTimer);
        }
        if (handshakeTimer != -1) {
            loop.timers().cancel(handshakeTimer);
        }
        if (keepaliveTimer != -1) {
            loop.timers().cancel(keepaliveTimer);
        }
        socket.close();
        socket.release(); // the number is closed here, exactly once
        loop.forgetClosed(this, token);
        discardRing();
        decoder.stop(); // a listener that closed while a read delivers its frames gets no more of them
        decoder.releaseFds(CLOSE_FD);
        // Nothing reads or writes these after this point (readIn, writeOut and flush all stop at CLOSED), except
        // the read that may be delivering frames right now: it hands the receive buffer back when it ends, since
        // another loop could take it from the shared pool while the decoder still works in it.
        stagingPool.give(staging);
        staging = CLOSED_BUFFER;
        if (!reading) {
            releaseReceiveBuffer();
        }
        stagingStart = 0;
        stagingEnd = 0;
        while (!arrivedFds.isEmpty()) {
            Native.close(arrivedFds.pollInt());
        }
        failPending();
        try {
            listener.onClose(this, reason);
        } finally {
            sendingDone.complete(null);
            closed.complete(reason);
        }
    }

    /** Fails every request in flight with UNAVAILABLE naming the close reason. */
    private void failPending() {
        registerAllRequests();
        if (pending.isEmpty()) {
            return; // the usual case at close: no exception (and its stack trace) built for nobody
        }
        StatusException cause = unavailable();
        // The count drops before any future completes, so a caller woken by the failure sees it already.
        inFlight.addAndGet(-pending.size());
        for (PendingRequest request : pending.values()) {
            loop.timers().cancel(request.timerId);
            request.fail(cause);
        }
        pending.clear();
    }

    private StatusException unavailable() {
        CloseReason reason = closeReason;
        return new StatusException(StatusCode.UNAVAILABLE, this + " is closed"
                + (reason != null ? " (" + reason + ")" : ""));
    }

    private CloseReason ioError(String call, int result) {
        int errno = -result;
        if (errno == Errno.ECONNRESET || errno == Errno.EPIPE) {
            // How a peer that died (or closed with unread data) looks from here: its end, not our failure.
            return new CloseReason(CloseReason.Kind.REMOTE_CLOSE, "the peer reset the connection (" + call + ": "
                    + Errno.name(errno) + ")");
        }
        return new CloseReason(CloseReason.Kind.IO_ERROR, call + " failed: " + Errno.name(errno));
    }

    @Override
    public void abort(CloseReason reason) {
        closeNow(reason);
    }

    @Override
    public String toString() {
        return "connection " + id + " (" + endpoint + ")";
    }

    /** A request awaiting its reply; it is its own deadline timer task. */
    private final class PendingRequest implements Timers.Task {
        final long correlationId;
        final long deadlineNanos;
        final CompletableFuture<Response> future = new CompletableFuture<>();
        long timerId = -1;

        PendingRequest(long correlationId, long deadlineNanos) {
            this.correlationId = correlationId;
            this.deadlineNanos = deadlineNanos;
        }

        void fail(StatusException cause) {
            future.completeExceptionally(cause);
        }

        @Override
        public void onTimer(long firedTimerId) {
            if (pending.remove(correlationId) != this) {
                return;
            }
            inFlight.decrementAndGet();
            fail(new StatusException(StatusCode.DEADLINE_EXCEEDED, "no reply to request " + correlationId
                    + " on " + Connection.this + " before its deadline"));
            // Tell the peer to stop working on it; best effort, a full ring just means it finishes in vain.
            if (state == OPEN) {
                tryWriteFrame(FrameType.CANCEL, correlationId, 0, 0, 0, pingPayload, 0, 0, null, 0);
            }
        }
    }
}
