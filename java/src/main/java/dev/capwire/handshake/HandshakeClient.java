package dev.capwire.handshake;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.HelloReply;
import dev.capwire.wire.proto.Negotiated;
import java.security.SecureRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;

/**
 * The client side of the Hello handshake. {@link #connect} returns only a negotiated connection: until the
 * server's Negotiated reply arrives, the connection accepts nothing but handshake frames, and the
 * application's listener hears nothing.
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

    private HandshakeClient() {
    }

    /**
     * Connects and runs the handshake, waiting at most the connect timeout plus the handshake timeout.
     *
     * @throws HandshakeRefusedException the server refused: its code, reason and retry hint
     * @throws StatusException UNAVAILABLE when the connection failed during the handshake, UNAUTHENTICATED when
     *     the server could not prove the shared secret, DEADLINE_EXCEEDED when no reply came in time
     * @throws NativeIoException the socket could not connect (ENOENT, ECONNREFUSED, ...)
     */
    public static NegotiatedConnection connect(Transport transport, Endpoint endpoint, ClientOptions options,
            FrameListener listener) throws NativeIoException {
        ClientSide side = new ClientSide(options, listener, transport.options().maxFrameBytes());
        Connection connection = transport.connect(endpoint, side);
        try {
            // The connection's own handshake timer fails the attempt first; the extra second guards a stuck loop.
            return connection.await(side.result, options.handshakeTimeoutMs() + 1000);
        } catch (ExecutionException e) {
            connection.abort();
            throw e.getCause() instanceof StatusException
                    ? (StatusException) e.getCause()
                    : new StatusException(StatusCode.INTERNAL, "handshake failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            connection.abort();
            throw new StatusException(StatusCode.DEADLINE_EXCEEDED, "no handshake reply from " + endpoint + " within "
                    + options.handshakeTimeoutMs() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            connection.abort();
            throw new StatusException(StatusCode.CANCELLED, "interrupted during the handshake with " + endpoint);
        }
    }

    /** The handshake's client half, then the gate in front of the application's listener. */
    private static final class ClientSide implements FrameListener {
        final CompletableFuture<NegotiatedConnection> result = new CompletableFuture<>();
        private final ClientOptions options;
        private final FrameListener listener;
        private final int maxFrameBytes;
        private final byte[] clientNonce = new byte[HandshakeServer.NONCE_LENGTH];
        private Hello hello;
        private byte[] serverNonce;
        private boolean negotiated;

        ClientSide(ClientOptions options, FrameListener listener, int transportMaxFrameBytes) {
            this.options = options;
            this.listener = listener;
            this.maxFrameBytes = options.maxFrameBytes() == 0 ? transportMaxFrameBytes
                    : Math.min(options.maxFrameBytes(), transportMaxFrameBytes);
            RANDOM.nextBytes(clientNonce);
        }

        @Override
        public void onOpen(Connection connection) {
            connection.awaitHandshake(options.handshakeTimeoutMs());
            hello = Hello.newBuilder()
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
            connection.offerHandshakeFrame(FrameType.HELLO, hello.toByteArray());
        }

        @Override
        public void onFrame(Connection connection, InboundFrame frame) {
            if (negotiated) {
                if (frame.type() == FrameType.HELLO || frame.type() == FrameType.HELLO_REPLY) {
                    connection.closeWithGoAway(GoAwayReason.PROTOCOL_ERROR,
                            FrameType.name(frame.type()) + " after the handshake completed");
                    return;
                }
                listener.onFrame(connection, frame);
                return;
            }
            if (frame.type() != FrameType.HELLO_REPLY) {
                fail(connection, StatusCode.UNAVAILABLE, "the server sent " + FrameType.name(frame.type())
                        + " instead of a HELLO_REPLY");
                return;
            }
            HelloReply reply;
            try {
                reply = HelloReply.parseFrom(frame.payloadBytes());
            } catch (InvalidProtocolBufferException e) {
                fail(connection, StatusCode.UNAVAILABLE, "the HELLO_REPLY payload is not a HelloReply message");
                return;
            }
            switch (reply.getOutcomeCase()) {
                case CHALLENGE:
                    onChallenge(connection, reply.getChallenge().getServerNonce().toByteArray());
                    return;
                case REFUSED:
                    result.completeExceptionally(new HandshakeRefusedException(reply.getRefused()));
                    connection.abort(); // the server closes too; nothing more will come
                    return;
                case NEGOTIATED:
                    onNegotiated(connection, reply.getNegotiated());
                    return;
                default:
                    fail(connection, StatusCode.UNAVAILABLE, "the HelloReply holds no outcome this client knows");
            }
        }

        private void onChallenge(Connection connection, byte[] nonce) {
            if (serverNonce != null) {
                fail(connection, StatusCode.UNAVAILABLE, "the server sent a second Challenge");
                return;
            }
            serverNonce = nonce;
            Hello.Builder answer = hello.toBuilder();
            // Without a secret the client still answers (with no proof), so the server's refusal says why.
            if (options.secret() != null) {
                answer.setSecretProof(ByteString.copyFrom(options.secret().clientProof(serverNonce, clientNonce)));
            }
            connection.offerHandshakeFrame(FrameType.HELLO, answer.build().toByteArray());
        }

        private void onNegotiated(Connection connection, Negotiated reply) {
            if (options.secret() != null) {
                // Mutual: a server that never challenged, or cannot prove the secret, is not the one we trust.
                if (serverNonce == null || !SharedSecret.sameProof(
                        options.secret().serverProof(serverNonce, clientNonce), reply.getServerProof().toByteArray())) {
                    fail(connection, StatusCode.UNAUTHENTICATED, "the server did not prove the shared secret");
                    return;
                }
            }
            if (reply.getMaxFrameBytes() < HandshakeServer.MIN_FRAME_BYTES) {
                fail(connection, StatusCode.UNAVAILABLE, "the server negotiated an unusable max frame size of "
                        + reply.getMaxFrameBytes() + " bytes");
                return;
            }
            connection.limitFrameBytes(reply.getMaxFrameBytes());
            connection.handshakeCompleted();
            if (reply.getKeepaliveIntervalMs() > 0) {
                connection.startKeepalive(reply.getKeepaliveIntervalMs(), options.keepaliveMaxMissed());
            }
            negotiated = true;
            listener.onOpen(connection);
            result.complete(new NegotiatedConnection(connection, reply));
        }

        private void fail(Connection connection, StatusCode code, String reason) {
            result.completeExceptionally(new StatusException(code, "handshake with " + connection.endpoint()
                    + " failed: " + reason));
            connection.closeWithGoAway(GoAwayReason.HANDSHAKE_FAILED, reason);
        }

        @Override
        public void onClose(Connection connection, CloseReason reason) {
            if (negotiated) {
                listener.onClose(connection, reason);
            } else {
                // The handshake timer's close must read as the timeout it is, not as a peer that went away.
                StatusCode code = connection.handshakeTimedOut() ? StatusCode.DEADLINE_EXCEEDED : StatusCode.UNAVAILABLE;
                result.completeExceptionally(new StatusException(code, "connection to "
                        + connection.endpoint() + " closed during the handshake: " + reason));
            }
        }
    }
}
