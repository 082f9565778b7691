package dev.capwire.handshake;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.transport.Endpoint;
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
 * The Hello exchange of {@link HandshakeClient#connect}, on the bare socket and the calling thread: Hello out,
 * each reply read exactly (header, then the payload it declares), a Challenge answered, a broker's reply
 * followed to the backend's takeover frame or to the backend's address. It returns the negotiated terms or
 * throws why there are none; the socket goes to the transport only after it.
 */
final class HelloExchange {
    private static final SecureRandom RANDOM = new SecureRandom();
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

    /** A broker sends the client to the backend's own address (control flow inside connect, never thrown out). */
    static final class BackendAddress extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final transient Endpoint endpoint;

        BackendAddress(Endpoint endpoint) {
            super(null, null, false, false);
            this.endpoint = endpoint;
        }
    }

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

    HelloExchange(Transport transport, Endpoint endpoint, NativeSocket socket, ClientOptions options,
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
     * the backend: the backend's first frame, a HELLO_REPLY repeating the token, says it has taken over. With
     * {@link ClientOptions#callsBeforeTakeover()} (the default) the handshake returns at once and calls ride the
     * socket's buffer to the backend, one hop sooner; the connection checks the takeover frame as its first.
     * Without it the handshake waits for that frame, so that no call goes out on a hand-off that may still fail
     * and a failed one falls back to the backend's address inside {@code connect}. Without a token the broker
     * only names the backend's address.
     */
    private Negotiated fromBroker(Negotiated brokered, int maxFrameBytes) throws NativeIoException {
        if (!viaBroker) {
            throw broken("the backend address a broker named answered as a broker itself");
        }
        Endpoint backend = backendEndpoint(brokered.getBackendAddress());
        if (brokered.getHandoffToken().isEmpty()) {
            throw new BackendAddress(backend);
        }
        if (brokered.getHandoffToken().size() != HandshakeClient.HANDOFF_TOKEN_LENGTH) {
            throw broken("the hand-off token is " + brokered.getHandoffToken().size() + " bytes (must be "
                    + HandshakeClient.HANDOFF_TOKEN_LENGTH + ")");
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
