package dev.capwire.handshake;

import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.Negotiated;

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
    /** The length of a broker's hand-off token (docs/wire-protocol.md, "Broker"). */
    public static final int HANDOFF_TOKEN_LENGTH = 16;

    private HandshakeClient() {
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
        transport.ensureMayBlock("HandshakeClient.connect(" + endpoint + ")");
        NativeSocket socket = NativeSocket.connect(endpoint.socketAddress(), transport.options().connectTimeoutMs());
        Negotiated negotiated;
        HelloExchange exchange = new HelloExchange(transport, endpoint, socket, options, viaBroker);
        try {
            negotiated = exchange.run();
        } catch (HelloExchange.BackendAddress redirect) {
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
