package dev.capwire.broker;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.handshake.Capabilities;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.handshake.Service;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.BrokerMessage;
import dev.capwire.wire.proto.Handoff;
import dev.capwire.wire.proto.HandoffAck;
import dev.capwire.wire.proto.HandoffDeclined;
import dev.capwire.wire.proto.Register;
import dev.capwire.wire.proto.Registered;
import dev.capwire.wire.proto.ServiceOffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A backend's registration with a broker: it registers the services of a {@link HandshakeServer} (which also
 * listens on the backend's own address, the fallback path), and takes over the client sockets the broker hands
 * it as negotiated connections of that server. Closing it (or this process ending) deregisters the services.
 *
 * <pre>{@code
 * HandshakeServer server = HandshakeServer.builder(transport).service(echo).build();
 * server.listen(Endpoint.parse("unix:/run/app/echo.sock"));
 * BrokerBackend registration = BrokerBackend.register(transport, Endpoint.parse("unix:/run/app/broker.sock"),
 *         server, Endpoint.parse("unix:/run/app/echo.sock"));
 * }</pre>
 */
public final class BrokerBackend implements AutoCloseable {
    private final HandshakeServer server;
    private final Endpoint broker;
    /** Where a hand-off this side could not take goes (the transport's error handler). */
    private final org.agrona.ErrorHandler errors;
    private final NegotiatedConnection registration;
    private final CompletableFuture<Registered> registered = new CompletableFuture<>();
    /** How often the live connection count is looked at; a Load goes to the broker only when it changed. */
    static final long LOAD_REPORT_MS = 250;
    private final java.util.concurrent.ScheduledExecutorService loadReports =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(task -> {
                Thread thread = new Thread(task, "capwire-broker-load");
                thread.setDaemon(true);
                return thread;
            });
    private int reportedLoad = -1; // only the loadReports thread
    /** The registration connection closed, and the load reports with it; guarded by this. */
    private boolean ended;

    private BrokerBackend(Transport transport, Endpoint broker, HandshakeServer server, ClientOptions options)
            throws NativeIoException {
        this.server = server;
        this.broker = broker;
        this.errors = transport.options().errorHandler();
        this.registration = HandshakeClient.connect(transport, broker, options, new Messages());
    }

    /**
     * Registers {@code server}'s services with the broker at {@code broker}, with {@code backendAddress} (where
     * {@code server} listens) as the fallback, and returns once the broker accepted them.
     *
     * @throws dev.capwire.handshake.HandshakeRefusedException the broker's policy refused this process
     * @throws StatusException RESOURCE_EXHAUSTED when a service has as many backends as the broker allows
     *     ({@code capwire.broker.maxBackendsPerService}), FAILED_PRECONDITION when the broker refused the
     *     registration otherwise (a malformed offer, a service registered on other terms), UNAVAILABLE when it
     *     closed, DEADLINE_EXCEEDED when it did not answer
     */
    public static BrokerBackend register(Transport transport, Endpoint broker, HandshakeServer server,
            Endpoint backendAddress) throws NativeIoException {
        ClientOptions options = ClientOptions.builder(Broker.REGISTRATION_SERVICE)
                .wantedServiceVersion(Broker.REGISTRATION_VERSION).noSecret().build();
        BrokerBackend backend = new BrokerBackend(transport, broker, server, options);
        try {
            backend.awaitRegistered(backendAddress, options.handshakeTimeoutMs());
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
        backend.startLoadReports();
        return backend;
    }

    /**
     * The broker closed its copies of handed-off sockets and cannot see them end: tell it the count. Unless the
     * registration already ended (a broker that closed right after accepting it): then its close shut the
     * reports down, {@link #closeFuture()} says so, and the registration is returned ended, as it would be had the
     * close come a moment later.
     */
    private synchronized void startLoadReports() {
        if (!ended) {
            loadReports.scheduleWithFixedDelay(this::reportLoad, 0, LOAD_REPORT_MS, TimeUnit.MILLISECONDS);
        }
    }

    private synchronized void endLoadReports() {
        ended = true;
        loadReports.shutdown();
    }

    private void awaitRegistered(Endpoint backendAddress, long timeoutMs) {
        Register.Builder register = Register.newBuilder().setBackendAddress(backendAddress.toString());
        for (Service service : server.services()) {
            ServiceOffer.Builder offer = ServiceOffer.newBuilder()
                    .setName(service.name())
                    .setVersion(service.version().toString())
                    .addAllAllowedClientVersions(service.allowedClientVersions())
                    .setCapabilities(Capabilities.DEFAULTS);
            if (service.minimumClientVersion() != null) {
                offer.setMinimumClientVersion(service.minimumClientVersion().toString());
            }
            register.addServices(offer);
        }
        if (!BrokerFrames.send(registration.connection(), BrokerMessage.newBuilder().setRegister(register).build(),
                timeoutMs)) {
            throw new StatusException(StatusCode.UNAVAILABLE, "the broker at " + broker + " took no Register");
        }
        Registered answer;
        try {
            answer = registered.get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StatusException(StatusCode.CANCELLED, "interrupted while registering with " + broker, e);
        } catch (ExecutionException e) {
            throw new StatusException(StatusCode.UNAVAILABLE, "registration with " + broker + " failed: "
                    + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new StatusException(StatusCode.DEADLINE_EXCEEDED, "the broker at " + broker
                    + " did not answer the Register within " + timeoutMs + " ms");
        }
        if (!answer.getAccepted()) {
            throw new StatusException(answer.getCode() == dev.capwire.wire.proto.RefusedCode.RESOURCE_EXHAUSTED
                    ? StatusCode.RESOURCE_EXHAUSTED : StatusCode.FAILED_PRECONDITION, "the broker at " + broker
                    + " refused the registration: " + answer.getReason());
        }
    }

    private void reportLoad() {
        int connections = server.connectionCount();
        if (connections != reportedLoad && BrokerFrames.send(registration.connection(), BrokerMessage.newBuilder()
                .setLoad(dev.capwire.wire.proto.Load.newBuilder().setConnections(connections)).build(), 0)) {
            reportedLoad = connections;
        }
    }

    /** Completes when the registration connection closes (the broker stopped, say): the services are gone. */
    public CompletableFuture<CloseReason> closeFuture() {
        return registration.connection().closeFuture();
    }

    /** Deregisters: closes the registration connection. Connections already handed over stay this server's. */
    @Override
    public void close() {
        loadReports.shutdownNow();
        registration.close();
    }

    /** The broker's messages, on the registration connection's loop. */
    private final class Messages implements FrameListener {
        @Override
        public void onFrame(Connection connection, InboundFrame frame) {
            FileDescriptor[] fds = frame.takeFds();
            BrokerMessage message = BrokerFrames.parse(frame);
            if (message == null) {
                closeAll(fds);
                connection.closeWithGoAway(dev.capwire.wire.proto.GoAwayReason.PROTOCOL_ERROR,
                        "not a BrokerMessage in a NOTIFY frame with cap and method id 0");
                return;
            }
            switch (message.getMessageCase()) {
                case REGISTERED -> registered.complete(message.getRegistered());
                case HANDOFF -> handoff(connection, message.getHandoff(), fds);
                case HANDOFF_CONFIRMED -> {
                    // Only a refused acknowledgement is answered. The broker shut the socket down before it refused
                    // (expired, revoked), so the connection adopted for it ends by itself; or the token was never
                    // this backend's to hold, or is a replay of one it holds rightly: nothing to undo either way.
                }
                default -> {
                    closeAll(fds);
                    connection.closeWithGoAway(dev.capwire.wire.proto.GoAwayReason.PROTOCOL_ERROR,
                            message.getMessageCase() + " is not a message a broker sends");
                }
            }
            if (message.getMessageCase() != BrokerMessage.MessageCase.HANDOFF) {
                closeAll(fds);
            }
        }

        @Override
        public void onClose(Connection connection, CloseReason reason) {
            endLoadReports();
            registered.completeExceptionally(new IllegalStateException("the broker closed the registration"
                    + " connection: " + reason));
        }
    }

    /**
     * The broker hands over a client: acknowledge with the token, then take the socket over at once, without
     * waiting for an answer (the broker writes on the socket after the hand-off only when this side declines,
     * and then this side has closed its copy unwritten). The acknowledgement is queued first, so that a broker
     * that sees this registration close reads it before the close and does not end a conversation taken over.
     */
    private void handoff(Connection connection, Handoff handoff, FileDescriptor[] fds) {
        if (fds.length != 1) {
            closeAll(fds);
            connection.closeWithGoAway(dev.capwire.wire.proto.GoAwayReason.PROTOCOL_ERROR, "a Handoff with "
                    + fds.length + " fds (must be 1)");
            return;
        }
        if (!server.serves(handoff.getServiceName())) {
            decline(connection, handoff, fds[0], "service '" + handoff.getServiceName() + "' is not served here");
            return;
        }
        if (!BrokerFrames.send(connection, BrokerMessage.newBuilder().setHandoffAck(HandoffAck.newBuilder()
                .setToken(handoff.getToken()).setServiceName(handoff.getServiceName())).build(), 0)) {
            fds[0].close(); // the registration is closing: the broker falls back with its own copy
            return;
        }
        try {
            server.adoptHandedOff(broker, NativeSocket.adopt(fds[0]), handoff.getUnread().toByteArray(),
                    handoff.getServiceName(), handoff.getNegotiated(), handoff.getHello());
        } catch (NativeIoException | RuntimeException e) {
            // Unwritten: the client reads the end of the stream once the broker's copy closes too, and falls back.
            fds[0].close();
            errors.onError(new StatusException(StatusCode.UNAVAILABLE, "could not take over a client of service '"
                    + handoff.getServiceName() + "' handed off by the broker at " + broker + " (its client falls"
                    + " back to this backend's own address): " + e.getMessage(), e));
        }
    }

    private static void decline(Connection connection, Handoff handoff, FileDescriptor socket, String why) {
        socket.close(); // before the decline: the broker writes on the socket once it has it
        BrokerFrames.send(connection, BrokerMessage.newBuilder().setHandoffDeclined(HandoffDeclined.newBuilder()
                .setToken(handoff.getToken()).setReason(why)).build(), 0);
    }

    private static void closeAll(FileDescriptor[] fds) {
        for (FileDescriptor fd : fds) {
            fd.close();
        }
    }
}
