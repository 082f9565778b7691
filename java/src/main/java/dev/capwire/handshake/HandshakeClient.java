package dev.capwire.handshake;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.SpinThenBlock;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.HelloReply;
import dev.capwire.wire.proto.Negotiated;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The client side of the Hello handshake. {@link #connect} returns only a negotiated connection, or throws
 * why there is none.
 *
 * <p>The handshake runs on the calling thread, on the bare socket, before any event loop sees it: the
 * caller blocks anyway until the reply comes, and handing each step to a loop thread and back would cost a
 * thread wake-up per step. It reads exactly the bytes of each reply (header first, then the payload it
 * declares), so frames the server sends right after its Negotiated reply stay in the socket for the loop.
 * Only the negotiated socket is handed to the transport.
 *
 * <pre>{@code
 * try (NegotiatedConnection echo = HandshakeClient.connect(transport, Endpoint.parse("unix:/run/app/echo.sock"),
 *         ClientOptions.builder("echo").clientVersion("1.2.0").build(), (connection, frame) -> { })) {
 *     Response reply = echo.connection().call(2, 1, payload, 0, length, 1000);
 * }
 * }</pre>
 */
public final class HandshakeClient {
    private static final SecureRandom RANDOM = new SecureRandom();
    /** The length of a broker's hand-off token (docs/wire-protocol.md, "Broker"). */
    public static final int HANDOFF_TOKEN_LENGTH = 16;
    /** The largest HELLO_REPLY this client reads; replies are a few hundred bytes. */
    private static final int MAX_REPLY_BYTES = 64 * 1024;
    /** The longest a handshake waits in the kernel before it checks whether it was interrupted. */
    private static final long INTERRUPT_CHECK_MS = 50;
    /**
     * A virtual thread never waits in poll(2): a thread in a native call keeps its carrier, so a few handshakes
     * waiting for slow servers would stop every other virtual thread of the JVM. It checks the socket without
     * waiting instead and parks in Java between checks, from this long up to {@link #MAX_PARK_NANOS}.
     */
    private static final long MIN_PARK_NANOS = TimeUnit.MICROSECONDS.toNanos(20);
    private static final long MAX_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    /** {@code Thread.isVirtual()} on Java 21+, found by reflection since Capwire is compiled for 17; else null. */
    private static final java.lang.invoke.MethodHandle IS_VIRTUAL = isVirtualHandle();
    /** Each connecting thread's buffer for the Hello exchange: a direct buffer per frame costs more than the frame. */
    private static final ThreadLocal<ByteBuffer> SCRATCH = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(4096));

    private HandshakeClient() {
    }

    private static java.lang.invoke.MethodHandle isVirtualHandle() {
        try {
            return java.lang.invoke.MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual",
                    java.lang.invoke.MethodType.methodType(boolean.class));
        } catch (ReflectiveOperationException e) {
            return null; // Java 17-20: no virtual threads
        }
    }

    static boolean onVirtualThread() {
        if (IS_VIRTUAL == null) {
            return false;
        }
        try {
            return (boolean) IS_VIRTUAL.invoke(Thread.currentThread());
        } catch (Throwable e) {
            return false;
        }
    }

    /**
     * Connects and runs the handshake, waiting at most the connect timeout, then the handshake timeout.
     *
     * @throws HandshakeRefusedException the server refused: its code, reason and retry hint
     * @throws StatusException UNAVAILABLE when the server broke off or broke the protocol, UNAUTHENTICATED when it
     *     could not prove the shared secret, DEADLINE_EXCEEDED when no reply came in time
     * @throws NativeIoException the socket could not connect (ENOENT, ECONNREFUSED, ...) or failed
     */
    public static NegotiatedConnection connect(Transport transport, Endpoint endpoint, ClientOptions options,
            FrameListener listener) throws NativeIoException {
        return connect(transport, endpoint, options, listener, true);
    }

    /**
     * Connects to the backend address a broker named, where no broker may send this client on again (a
     * {@link ReconnectingClient}'s next attempt after a hand-off failed before the backend took over).
     */
    static NegotiatedConnection connectToBackend(Transport transport, Endpoint backend, ClientOptions options,
            FrameListener listener) throws NativeIoException {
        return connect(transport, backend, options, listener, false);
    }

    /**
     * {@code viaBroker}: whether a broker may still send this client on (a connection made to the backend
     * address a broker named may not be sent on again, or two misconfigured brokers could bounce it forever).
     */
    private static NegotiatedConnection connect(Transport transport, Endpoint endpoint, ClientOptions options,
            FrameListener listener, boolean viaBroker) throws NativeIoException {
        NativeSocket socket = NativeSocket.connect(endpoint.socketAddress(), transport.options().connectTimeoutMs());
        Negotiated negotiated;
        Exchange exchange = new Exchange(transport, endpoint, socket, options, viaBroker);
        try {
            negotiated = exchange.run();
        } catch (BackendAddress redirect) {
            // The broker could not hand this connection over, or this client cannot take a handed-over socket:
            // the backend's own socket is the way in, with a handshake of its own there.
            socket.close();
            return connect(transport, redirect.endpoint, options, listener, false);
        } catch (NativeIoException | RuntimeException e) {
            socket.close();
            throw e;
        }
        Takeover takeover = exchange.takeover != null ? exchange.takeover : Takeover.settled(negotiated);
        Connection connection = transport.adopt(endpoint, socket, new AfterHandshake(negotiated, options, listener,
                takeover));
        return new NegotiatedConnection(connection, negotiated, takeover.future());
    }

    /** A broker sends the client to the backend's own address (control flow inside connect, never thrown out). */
    private static final class BackendAddress extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final transient Endpoint endpoint;

        BackendAddress(Endpoint endpoint) {
            super(null, null, false, false);
            this.endpoint = endpoint;
        }
    }

    /** The Hello exchange on the bare socket. */
    private static final class Exchange {
        private final Transport transport;
        private final Endpoint endpoint;
        private final NativeSocket socket;
        private final ClientOptions options;
        private final long deadlineNanos;
        private final byte[] clientNonce = new byte[HandshakeServer.NONCE_LENGTH];
        private final long spinNanos;
        /** Frames out and replies in; a reply larger than this gets a buffer of its own. */
        private final ByteBuffer scratch = SCRATCH.get();
        private final java.util.function.BooleanSupplier tryRead = this::tryRead;
        private final org.agrona.concurrent.NanoClock clock; // the transport's: deadlines on one clock
        private ByteBuffer readInto;
        private int lastRead;
        private NativeIoException readFailure;
        private final boolean viaBroker;
        /** A broker's hand-off is under way: a GOAWAY HANDOFF_ABANDONED now sends us to the backend address. */
        private Negotiated handingOff;
        /** Set when the connection is to check the backend's takeover frame itself (calls before takeover). */
        Takeover takeover;

        Exchange(Transport transport, Endpoint endpoint, NativeSocket socket, ClientOptions options,
                boolean viaBroker) {
            this.viaBroker = viaBroker;
            this.transport = transport;
            this.endpoint = endpoint;
            this.socket = socket;
            this.options = options;
            this.clock = transport.options().clock();
            this.deadlineNanos = clock.nanoTime() + TimeUnit.MILLISECONDS.toNanos(options.handshakeTimeoutMs());
            // In invoker mode the wait must drive the loop (the server may be on it), so it never just spins.
            this.spinNanos = transport.isDrivenByCurrentThread() ? 0
                    : TimeUnit.MICROSECONDS.toNanos(transport.options().parkAfterIdleMicros());
            RANDOM.nextBytes(clientNonce);
        }

        Negotiated run() throws NativeIoException {
            int maxFrameBytes = options.maxFrameBytes() == 0 ? transport.options().maxFrameBytes()
                    : Math.min(options.maxFrameBytes(), transport.options().maxFrameBytes());
            Hello hello = Hello.newBuilder()
                    .setMinProtocolVersion(options.minProtocol())
                    .setMaxProtocolVersion(options.maxProtocol())
                    .setServiceName(options.serviceName())
                    .setWantedServiceVersion(options.wantedServiceVersion())
                    .setClientVersion(options.clientVersion())
                    .setLibraryName(options.libraryName())
                    .setLibraryVersion(options.libraryVersion())
                    .setClaimedPid((int) options.claimedPid())
                    .setCapabilities(options.capabilities())
                    .setKeepaliveIntervalMs((int) options.keepaliveIntervalMs())
                    .setMaxFrameBytes(maxFrameBytes)
                    .setClientNonce(ByteString.copyFrom(clientNonce))
                    .build();
            send(FrameType.HELLO, hello.toByteArray());
            HelloReply reply = receiveReply();
            byte[] serverNonce = null;
            if (reply.hasChallenge()) {
                serverNonce = reply.getChallenge().getServerNonce().toByteArray();
                Hello.Builder answer = hello.toBuilder();
                // Without a secret the client still answers (with no proof), so the server's refusal says why.
                if (options.secret() != null) {
                    answer.setSecretProof(ByteString.copyFrom(options.secret().clientProof(serverNonce, clientNonce)));
                }
                send(FrameType.HELLO, answer.build().toByteArray());
                reply = receiveReply();
                if (reply.hasChallenge()) {
                    throw broken("the server sent a second Challenge");
                }
            }
            if (reply.hasRefused()) {
                throw new HandshakeRefusedException(reply.getRefused());
            }
            if (!reply.hasNegotiated()) {
                throw broken("the HelloReply holds no outcome this client knows");
            }
            Negotiated negotiated = reply.getNegotiated();
            if (options.secret() != null && (serverNonce == null || !SharedSecret.sameProof(
                    options.secret().serverProof(serverNonce, clientNonce), negotiated.getServerProof().toByteArray()))) {
                // Mutual: a server that never challenged, or cannot prove the secret, is not the one we trust.
                sendGoAway("the server did not prove the shared secret");
                throw new StatusException(StatusCode.UNAUTHENTICATED, "handshake with " + endpoint
                        + " failed: the server did not prove the shared secret");
            }
            String unusable = HandshakeFields.unusableNegotiated(negotiated, options.minProtocol(),
                    options.maxProtocol(), maxFrameBytes);
            if (unusable != null) {
                throw broken(unusable);
            }
            if (!negotiated.getHandoffToken().isEmpty() || !negotiated.getBackendAddress().isEmpty()) {
                negotiated = fromBroker(negotiated, maxFrameBytes);
            }
            return HandshakeFields.withRunnableKeepalive(negotiated);
        }

        /**
         * A broker answered (docs/wire-protocol.md, "Broker"). With a hand-off token it is passing this socket to
         * the backend: the backend's first frame, a HELLO_REPLY repeating the token, says it has taken over. By
         * default the handshake waits for that frame, so that no call goes out on a hand-off that may still fail
         * and a failed one falls back to the backend's address inside {@code connect}. With
         * {@link ClientOptions#callsBeforeTakeover()} it returns at once and calls ride the socket's buffer to the
         * backend, one hop sooner; the connection checks the takeover frame as its first. Without a token the
         * broker only names the backend's address.
         */
        private Negotiated fromBroker(Negotiated brokered, int maxFrameBytes) throws NativeIoException {
            if (!viaBroker) {
                throw broken("the backend address a broker named answered as a broker itself");
            }
            Endpoint backend = backendEndpoint(brokered.getBackendAddress());
            if (brokered.getHandoffToken().isEmpty()) {
                throw new BackendAddress(backend);
            }
            if (brokered.getHandoffToken().size() != HANDOFF_TOKEN_LENGTH) {
                throw broken("the hand-off token is " + brokered.getHandoffToken().size() + " bytes (must be "
                        + HANDOFF_TOKEN_LENGTH + ")");
            }
            if (options.callsBeforeTakeover()) {
                takeover = Takeover.awaiting(brokered, options.minProtocol(), options.maxProtocol(), maxFrameBytes);
                return brokered;
            }
            handingOff = brokered;
            HelloReply takeover;
            try {
                takeover = receiveReply();
            } catch (BackendAddress abandoned) {
                throw new BackendAddress(backend);
            }
            if (!takeover.hasNegotiated()
                    || !takeover.getNegotiated().getHandoffToken().equals(brokered.getHandoffToken())) {
                throw broken("the backend's first frame is not a Negotiated reply with the hand-off token");
            }
            Negotiated negotiated = takeover.getNegotiated();
            String unusable = HandshakeFields.unusableNegotiated(negotiated, options.minProtocol(),
                    options.maxProtocol(), maxFrameBytes);
            if (unusable != null) {
                throw broken(unusable);
            }
            return negotiated;
        }

        private Endpoint backendEndpoint(String address) {
            try {
                return Endpoint.parse(address);
            } catch (RuntimeException e) {
                throw broken("the broker's backend_address is not an endpoint: '" + address + "'");
            }
        }

        private StatusException broken(String reason) {
            sendGoAway(reason);
            return new StatusException(StatusCode.UNAVAILABLE, "handshake with " + endpoint + " failed: " + reason);
        }

        /** Best effort, one write that never waits: tell the server why before the socket closes. */
        private void sendGoAway(String reason) {
            try {
                socket.write(frame(FrameType.GOAWAY, GoAway.newBuilder().setReason(GoAwayReason.HANDSHAKE_FAILED)
                        .setMessage(reason).build().toByteArray(), scratch));
            } catch (NativeIoException ignored) {
                // The server is gone; the close says enough.
            }
        }

        private void send(byte type, byte[] payload) throws NativeIoException {
            ByteBuffer frame = frame(type, payload, scratch);
            try {
                while (frame.hasRemaining()) {
                    if (socket.write(frame) == 0) {
                        await(Native.INTEREST_WRITE);
                    }
                }
            } catch (NativeIoException.PeerGoneException e) {
                throw serverGone(e);
            }
        }

        /** A reset or broken pipe mid-handshake: the server closed on us (a full server does, before any Hello). */
        private StatusException serverGone(NativeIoException e) {
            return new StatusException(StatusCode.UNAVAILABLE, "handshake with " + endpoint
                    + " failed: the server closed the connection (" + e.getMessage() + ")", e);
        }

        /** The frame in {@code scratch} if it fits, else in a buffer of its own. */
        private static ByteBuffer frame(byte type, byte[] payload, ByteBuffer scratch) {
            int length = FrameHeader.HEADER_LENGTH + payload.length;
            ByteBuffer frame = length <= scratch.capacity() ? scratch.clear() : ByteBuffer.allocateDirect(length);
            FrameHeader.write(new UnsafeBuffer(frame), 0, length, type, 0, 0, 0, 0, 0);
            frame.position(FrameHeader.HEADER_LENGTH);
            return frame.put(payload).flip();
        }

        private HelloReply receiveReply() throws NativeIoException {
            ByteBuffer header = scratch.clear().limit(FrameHeader.HEADER_LENGTH);
            readFully(header);
            FrameHeader view = new FrameHeader().wrap(new UnsafeBuffer(header), 0);
            // The wire's own header rules, plus the handshake's: the reply is one frame and carries no fds.
            FrameHeader.Violation violation = view.check(MAX_REPLY_BYTES, false);
            if (violation != null) {
                throw broken("malformed frame header in reply to the Hello: " + violation.message());
            }
            if (view.moreFragments()) {
                throw broken("the reply to the Hello is fragmented (it must be one frame)");
            }
            int length = (int) view.frameLength();
            byte type = view.type();
            ByteBuffer payload = length <= scratch.capacity() ? scratch.clear().position(FrameHeader.HEADER_LENGTH)
                    .limit(length) : ByteBuffer.allocateDirect(length).position(FrameHeader.HEADER_LENGTH);
            readFully(payload);
            byte[] bytes = new byte[length - FrameHeader.HEADER_LENGTH];
            payload.position(FrameHeader.HEADER_LENGTH).get(bytes);
            if (type == FrameType.GOAWAY && handingOff != null && goAwayReason(bytes) == GoAwayReason.HANDOFF_ABANDONED) {
                throw new BackendAddress(null);
            }
            if (type == FrameType.GOAWAY) {
                throw new StatusException(StatusCode.UNAVAILABLE, "handshake with " + endpoint + " failed: the server"
                        + " sent GOAWAY " + describeGoAway(bytes));
            }
            if (type != FrameType.HELLO_REPLY) {
                throw broken("the server sent " + FrameType.name(type) + " instead of a HELLO_REPLY");
            }
            try {
                return HelloReply.parseFrom(bytes);
            } catch (InvalidProtocolBufferException e) {
                throw broken("the HELLO_REPLY payload is not a HelloReply message");
            }
        }

        private static GoAwayReason goAwayReason(byte[] bytes) {
            try {
                return GoAway.parseFrom(bytes).getReason();
            } catch (InvalidProtocolBufferException e) {
                return GoAwayReason.UNRECOGNIZED;
            }
        }

        private static String describeGoAway(byte[] bytes) {
            try {
                GoAway goAway = GoAway.parseFrom(bytes);
                return goAway.getReason() + ": " + goAway.getMessage();
            } catch (InvalidProtocolBufferException e) {
                return "(unreadable)";
            }
        }

        /** Reads until {@code buffer} is full: exactly its size, never into the next frame. */
        private void readFully(ByteBuffer buffer) throws NativeIoException {
            readInto = buffer;
            while (buffer.hasRemaining()) {
                // Yield-spin on the read itself, then wait in poll: a read that finds bytes needs no poll first.
                if (!SpinThenBlock.spin(tryRead, spinNanos)) {
                    await(Native.INTEREST_READ);
                    continue;
                }
                if (readFailure != null) {
                    NativeIoException failure = readFailure;
                    readFailure = null;
                    if (failure instanceof NativeIoException.PeerGoneException) {
                        abandonedIfHandingOff();
                        throw serverGone((NativeIoException.PeerGoneException) failure);
                    }
                    throw failure;
                }
                if (lastRead < 0) {
                    abandonedIfHandingOff();
                    throw new StatusException(StatusCode.UNAVAILABLE, "handshake with " + endpoint
                            + " failed: the server closed the connection");
                }
                if (lastRead == 0) {
                    await(Native.INTEREST_READ); // the deadline passed: this reports it
                }
            }
        }

        /**
         * The stream ended while a broker's hand-off was under way and before the backend's takeover frame: the
         * broker abandoned a hand-off the backend may have taken (it shuts the socket down then rather than write
         * a second time), or one of them died. Either way the backend address is the way in.
         */
        private void abandonedIfHandingOff() {
            if (handingOff != null) {
                throw new BackendAddress(null);
            }
        }

        /**
         * One read into {@link #readInto}; whether it ended the wait: bytes, the end of stream, a failure (kept
         * in {@link #lastRead} and {@link #readFailure}), or the deadline, which the wait that follows reports.
         */
        private boolean tryRead() {
            try {
                lastRead = socket.read(readInto);
            } catch (NativeIoException e) {
                readFailure = e;
                return true;
            }
            return lastRead != 0 || clock.nanoTime() - deadlineNanos >= 0;
        }

        /**
         * Waits for the socket until the handshake's deadline. In invoker mode, on the loop's own thread, the
         * loop is run meanwhile in short slices: the server may be on this very transport. A poll(2) does not
         * notice a Java interrupt, so the wait is cut into slices of {@link #INTERRUPT_CHECK_MS} and an
         * interrupted caller (a {@link ReconnectingClient} being closed, say) gets CANCELLED within one. A
         * virtual thread parks in Java instead of waiting in poll(2) (see {@link #MIN_PARK_NANOS}).
         */
        private void await(int interest) throws NativeIoException {
            boolean driveLoop = transport.isDrivenByCurrentThread();
            boolean virtual = !driveLoop && onVirtualThread();
            long parkNanos = MIN_PARK_NANOS;
            for (;;) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new StatusException(StatusCode.CANCELLED, "interrupted during the handshake with "
                            + endpoint);
                }
                long leftNanos = deadlineNanos - clock.nanoTime();
                if (leftNanos <= 0) {
                    sendGoAway("no handshake reply within " + options.handshakeTimeoutMs() + " ms");
                    throw new StatusException(StatusCode.DEADLINE_EXCEEDED, "no handshake reply from " + endpoint
                            + " within " + options.handshakeTimeoutMs() + " ms");
                }
                if (driveLoop) {
                    transport.poll();
                }
                int timeoutMs = driveLoop || virtual ? 0
                        : (int) Math.max(1, Math.min(INTERRUPT_CHECK_MS, TimeUnit.NANOSECONDS.toMillis(leftNanos)));
                long number = socket.fd().acquire();
                int ready;
                try {
                    ready = Native.waitReady(number, interest, timeoutMs);
                } finally {
                    socket.fd().release();
                }
                if (ready < 0) {
                    throw dev.capwire.bindings.Errors.exception("poll", -ready, endpoint);
                }
                if (ready != 0) {
                    return;
                }
                if (virtual) {
                    java.util.concurrent.locks.LockSupport.parkNanos(Math.min(parkNanos, leftNanos));
                    parkNanos = Math.min(2 * parkNanos, MAX_PARK_NANOS);
                }
            }
        }
    }

    /**
     * The negotiated connection's first listener: applies what was agreed, checks a backend's takeover frame when
     * the handshake did not wait for it, then steps aside.
     */
    private static final class AfterHandshake implements FrameListener {
        private final Negotiated agreed;
        private final ClientOptions options;
        private final FrameListener listener;
        private final Takeover takeover;

        AfterHandshake(Negotiated agreed, ClientOptions options, FrameListener listener, Takeover takeover) {
            this.agreed = agreed;
            this.options = options;
            this.listener = listener;
            this.takeover = takeover;
        }

        @Override
        public void onOpen(Connection connection) {
            connection.limitFrameBytes(agreed.getMaxFrameBytes());
            if (!Capabilities.has(agreed.getCapabilities(), Capabilities.FD_PASSING)) {
                connection.refuseFds();
            }
            if (agreed.getKeepaliveIntervalMs() > 0) {
                connection.startKeepalive(agreed.getKeepaliveIntervalMs(), options.keepaliveMaxMissed());
            }
            listener.onOpen(connection);
        }

        @Override
        public void onFrame(Connection connection, InboundFrame frame) {
            if (takeover.awaited()) {
                takeover.onFirstFrame(connection, frame);
                return;
            }
            if (frame.type() == FrameType.HELLO || frame.type() == FrameType.HELLO_REPLY) {
                connection.closeWithGoAway(GoAwayReason.PROTOCOL_ERROR,
                        FrameType.name(frame.type()) + " after the handshake completed");
                return;
            }
            listener.onFrame(connection, frame);
        }

        @Override
        public void onClose(Connection connection, CloseReason reason) {
            takeover.onClose(reason);
            listener.onClose(connection, reason);
        }
    }
}
