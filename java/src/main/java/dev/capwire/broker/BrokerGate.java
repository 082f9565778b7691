package dev.capwire.broker;

import dev.capwire.bindings.PeerCredentials;
import dev.capwire.handshake.Capabilities;
import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.HandshakeSlots;
import dev.capwire.handshake.HelloChecks;
import dev.capwire.handshake.Service;
import dev.capwire.handshake.SharedSecret;
import dev.capwire.transport.AttributeKey;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.InboundGate;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.BrokerMessage;
import dev.capwire.wire.proto.Challenge;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.HelloReply;
import dev.capwire.wire.proto.Negotiated;
import dev.capwire.wire.proto.Refused;
import dev.capwire.wire.proto.RefusedCode;
import dev.capwire.wire.proto.Register;
import dev.capwire.wire.proto.Registered;
import dev.capwire.wire.proto.ServiceOffer;
import com.google.protobuf.ByteString;
import java.security.SecureRandom;
import java.util.LinkedHashMap;
import java.util.Map;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Every connection the broker accepts starts here. Its Hello decides what it is: a backend's registration
 * connection (service {@value Broker#REGISTRATION_SERVICE}), judged by the registration checks, or a client,
 * judged by the client checks against the registered services and then handed to the backend that serves it.
 * Both sets of checks are {@link HelloChecks}, the implementation a direct server runs.
 */
final class BrokerGate implements FrameListener {
    private static final AttributeKey<Peer> PEER = AttributeKey.create("capwire.broker.peer", Peer.class);
    /** How soon a client asking for a service being started should come back. */
    private static final long ACTIVATION_RETRY_MS = 200;
    /** Serves no frames: the broker only checks Hellos against it. */
    private static final FrameListener NOBODY = (connection, frame) -> { };

    /** One accepted connection's state; touched only by its loop. */
    private static final class Peer {
        /** Refused, sent on, handed off or turned away: nothing more is read. */
        boolean done;
        boolean registering;
        Registration registration;
        /** Whom its handshake slot is counted against, and whether it holds one now. */
        String slotPeer;
        boolean holdsSlot;
        /** A client that was sent a Challenge: its first Hello and the nonce it must prove the secret against. */
        Hello challenged;
        byte[] serverNonce;
        long helloNanos;
    }

    private final HelloChecks clientChecks;
    /** Clients must prove it (null: none); registrations are judged by their peer policy alone. */
    private final SharedSecret secret;
    private final HandshakeSlots slots;
    private final SecureRandom random = new SecureRandom();
    private final HelloChecks registrationChecks;
    private final Map<String, Service> registrationService;
    private final InboundGate handshakeGate;
    private final int keepaliveMaxMissed;
    private final Registry registry;
    private final Handoffs handoffs;
    private final Launcher launcher;
    /** The terms of services the broker can start, checked until their backend registers its own. */
    private final Map<String, Service> activatable;
    private final Events events;

    BrokerGate(HelloChecks clientChecks, SharedSecret secret, HandshakeSlots slots, HelloChecks registrationChecks,
            InboundGate handshakeGate, int keepaliveMaxMissed, Registry registry, Handoffs handoffs, Launcher launcher,
            Events events) {
        this.clientChecks = clientChecks;
        this.secret = secret;
        this.slots = slots;
        this.registrationChecks = registrationChecks;
        this.registrationService = Map.of(Broker.REGISTRATION_SERVICE,
                Service.builder(Broker.REGISTRATION_SERVICE, Broker.REGISTRATION_VERSION, NOBODY).build());
        this.handshakeGate = handshakeGate;
        this.keepaliveMaxMissed = keepaliveMaxMissed;
        this.registry = registry;
        this.handoffs = handoffs;
        this.launcher = launcher;
        Map<String, Service> terms = new LinkedHashMap<>();
        launcher.activations().forEach((name, activation) ->
                terms.put(name, Service.builder(name, activation.version(), NOBODY).build()));
        this.activatable = Map.copyOf(terms);
        this.events = events;
    }

    @Override
    public void onOpen(Connection connection) {
        Peer peer = new Peer();
        connection.setAttribute(PEER, peer);
        PeerCredentials credentials = connection.peerCredentials();
        peer.slotPeer = HandshakeSlots.peerOf(connection, credentials != null ? credentials.uid().orElse(-1) : -1);
        String noSlot = slots.take(peer.slotPeer);
        if (noSlot != null) {
            // Before any Hello, so no Refused: a GOAWAY that names the limit, and the close.
            peer.done = true;
            connection.closeWithGoAway(GoAwayReason.HANDSHAKE_FAILED, "closed at once: " + noSlot);
            return;
        }
        peer.holdsSlot = true;
        connection.shutGate(handshakeGate);
    }

    private void releaseSlot(Peer peer) {
        if (peer.holdsSlot) {
            peer.holdsSlot = false;
            slots.release(peer.slotPeer);
        }
    }

    @Override
    public void onFrame(Connection connection, InboundFrame frame) {
        Peer peer = connection.attribute(PEER);
        if (peer.registering) {
            onRegistrationFrame(connection, peer, frame);
            return;
        }
        if (peer.done) {
            return; // refused, sent on or handed off: the close is on its way
        }
        peer.done = true; // unless a Challenge goes out, below
        if (frame.type() != FrameType.HELLO) {
            connection.closeWithGoAway(GoAwayReason.HANDSHAKE_FAILED, FrameType.name(frame.type())
                    + " instead of a HELLO");
            return;
        }
        Hello hello;
        try {
            hello = Hello.parseFrom(frame.payloadBytes());
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            connection.closeWithGoAway(GoAwayReason.HANDSHAKE_FAILED, "the HELLO payload is not a Hello message");
            return;
        }
        if (peer.challenged != null) {
            onClientProof(connection, peer, hello);
        } else if (Broker.REGISTRATION_SERVICE.equals(hello.getServiceName())) {
            onRegistrationHello(connection, peer, hello);
        } else {
            onClientHello(connection, peer, hello);
        }
    }

    @Override
    public void onClose(Connection connection, CloseReason reason) {
        releaseSlot(connection.attribute(PEER));
        Registration registration = connection.attribute(PEER).registration;
        if (registration != null && registry.remove(registration)) {
            handoffs.backendGone(registration);
            events.deregistered(registration.pid, registration.serviceNames());
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Clients
    // ---------------------------------------------------------------------------------------------------

    /** Checks 1-7; then the shared secret's Challenge when there is one, else on to the backend. */
    private void onClientHello(Connection connection, Peer peer, Hello hello) {
        peer.helloNanos = System.nanoTime();
        HelloChecks.Refusal refusal = clientChecks.check(connection, hello, services(), () -> null);
        if (refusal == null && secret != null) {
            // 8. Before anything is started or handed on for it, the client proves the secret.
            peer.challenged = hello;
            peer.serverNonce = new byte[HandshakeServer.NONCE_LENGTH];
            random.nextBytes(peer.serverNonce);
            peer.done = false;
            send(connection, HelloReply.newBuilder().setChallenge(Challenge.newBuilder()
                    .setServerNonce(ByteString.copyFrom(peer.serverNonce))).build());
            return;
        }
        route(connection, peer, hello, refusal, null);
    }

    /** The Hello that answers the Challenge: the first one again, with the proof. */
    private void onClientProof(Connection connection, Peer peer, Hello answer) {
        HelloChecks.Refusal refusal = HelloChecks.proofRefusal(peer.challenged, answer, peer.serverNonce, secret);
        byte[] serverProof = refusal == null ? HelloChecks.serverProof(answer, peer.serverNonce, secret) : null;
        route(connection, peer, peer.challenged, refusal, serverProof);
    }

    /**
     * A client that passed the checks ({@code refusal} null) goes to a backend of its service: handed off, or
     * sent to its address; or is told to come back while one starts. {@code serverProof}: the secret's, or null.
     */
    private void route(Connection connection, Peer peer, Hello hello, HelloChecks.Refusal refusal,
            byte[] serverProof) {
        String name = hello.getServiceName();
        // A backend on its way out after being idle gets nobody new.
        Registration backend = refusal == null ? registry.backendFor(name, r -> !launcher.idleStopping(name, r))
                : null;
        Registration.Offer offer = backend != null ? backend.offers.get(name) : null;
        if (refusal == null && offer == null && activatable.containsKey(name)) {
            // A checked client, and nobody serves it now: start the backend (or wait for the stopping one to
            // exit first); the client comes back for it.
            refusal = new HelloChecks.Refusal(RefusedCode.UNAVAILABLE, launcher.wanted(name), ACTIVATION_RETRY_MS,
                    Map.of());
        }
        if (refusal == null && offer == null) {
            // Deregistered between the check and now.
            refusal = new HelloChecks.Refusal(RefusedCode.SERVICE_UNKNOWN, "no service named '"
                    + hello.getServiceName() + "' here", 1000, Map.of());
        }
        if (refusal != null) {
            refuse(connection, clientChecks, refusal);
            return;
        }
        Negotiated.Builder negotiated = clientChecks.negotiated(connection, hello, offer.service());
        negotiated.setCapabilities(negotiated.getCapabilities() & offer.capabilities())
                .setBackendAddress(backend.backendAddress);
        if (serverProof != null) {
            negotiated.setServerProof(ByteString.copyFrom(serverProof));
        }
        PeerCredentials client = connection.peerCredentials();
        if (!connection.endpoint().isUnix() || (negotiated.getCapabilities() & Capabilities.FD_PASSING) == 0) {
            // No socket can travel to this client's backend: name the backend's address, and it connects there.
            send(connection, HelloReply.newBuilder().setNegotiated(negotiated).build());
            connection.closeWithGoAway(GoAwayReason.NORMAL_CLOSE, "connect to backend_address "
                    + backend.backendAddress);
            long pid = client != null ? client.pid().orElse(-1) : -1;
            events.fallback(hello.getServiceName(), pid, "no handle passing with this"
                    + " client: sent it to the backend's address");
            return;
        }
        byte[] token = handoffs.issueToken();
        Negotiated reply = negotiated.setHandoffToken(ByteString.copyFrom(token)).build();
        // Nothing more is read from this client here: what it sends next is the backend's to read.
        long countedAt = backend.handedOff();
        launcher.handedOff(name, backend);
        long helloNanos = peer.helloNanos;
        connection.detach(socket -> handoffs.deliver(socket, token, reply, hello, client, backend, countedAt,
                helloNanos));
    }

    /** The registered services, and the activatable ones not registered now (a new map only when there are any). */
    private Map<String, Service> services() {
        if (activatable.isEmpty()) {
            return registry.services();
        }
        Map<String, Service> all = new LinkedHashMap<>(activatable);
        all.putAll(registry.services());
        return all;
    }

    // ---------------------------------------------------------------------------------------------------
    // Backends
    // ---------------------------------------------------------------------------------------------------

    private void onRegistrationHello(Connection connection, Peer peer, Hello hello) {
        HelloChecks.Refusal refusal = registrationChecks.check(connection, hello, registrationService, () -> null);
        if (refusal != null) {
            long pid = pid(connection);
            events.registrationRefused(pid, refusal.code() + ": "
                    + refusal.reason());
            refuse(connection, registrationChecks, refusal);
            return;
        }
        Negotiated negotiated = registrationChecks.negotiated(connection, hello,
                registrationService.get(Broker.REGISTRATION_SERVICE)).build();
        if (!send(connection, HelloReply.newBuilder().setNegotiated(negotiated).build())) {
            return;
        }
        releaseSlot(peer); // a registration connection stays open: its handshake is done
        connection.limitFrameBytes(negotiated.getMaxFrameBytes());
        connection.openGate();
        if (negotiated.getKeepaliveIntervalMs() > 0) {
            connection.startKeepalive(Integer.toUnsignedLong(negotiated.getKeepaliveIntervalMs()), keepaliveMaxMissed);
        }
        peer.registering = true;
    }

    private void onRegistrationFrame(Connection connection, Peer peer, InboundFrame frame) {
        if (frame.fdCount() > 0) {
            // Only the broker passes fds on this connection; the transport closes the ones nobody takes.
            connection.closeWithGoAway(GoAwayReason.PROTOCOL_ERROR, frame.fdCount() + " fds on a registration"
                    + " message; none belong there");
            return;
        }
        BrokerMessage message = BrokerFrames.parse(frame);
        if (message == null) {
            connection.closeWithGoAway(GoAwayReason.PROTOCOL_ERROR, FrameType.name(frame.type())
                    + " is not a BrokerMessage in a NOTIFY frame with cap and method id 0");
            return;
        }
        switch (message.getMessageCase()) {
            case REGISTER -> register(connection, peer, message.getRegister());
            case HANDOFF_ACK -> {
                if (peer.registration == null) {
                    connection.closeWithGoAway(GoAwayReason.PROTOCOL_ERROR, "HandoffAck before Register");
                    return;
                }
                handoffs.acknowledged(peer.registration, message.getHandoffAck());
            }
            case HANDOFF_DECLINED -> {
                if (peer.registration != null) {
                    handoffs.declined(peer.registration, message.getHandoffDeclined());
                }
            }
            case LOAD -> {
                if (peer.registration != null) {
                    peer.registration.reported(message.getLoad().getConnections());
                    launcher.load(peer.registration, message.getLoad().getConnections());
                }
            }
            default -> connection.closeWithGoAway(GoAwayReason.PROTOCOL_ERROR, message.getMessageCase()
                    + " is not a message a backend sends");
        }
    }

    private void register(Connection connection, Peer peer, Register register) {
        if (peer.registration != null) {
            connection.closeWithGoAway(GoAwayReason.PROTOCOL_ERROR, "a second Register on one connection");
            return;
        }
        long pid = pid(connection);
        Map<String, Registration.Offer> offers = new LinkedHashMap<>();
        String malformed = offers(register, offers);
        Registration registration = new Registration(connection, pid, register.getBackendAddress(), offers);
        Registry.Refusal refusal = malformed != null ? new Registry.Refusal(false, malformed)
                : registry.add(registration);
        if (refusal != null) {
            String why = refusal.reason();
            BrokerFrames.send(connection, BrokerMessage.newBuilder().setRegistered(Registered.newBuilder()
                    .setAccepted(false).setReason(why)
                    .setCode(refusal.limit() ? RefusedCode.RESOURCE_EXHAUSTED : RefusedCode.PEER_REJECTED)).build(), 0);
            connection.closeWithGoAway(GoAwayReason.NORMAL_CLOSE, "registration refused: " + why);
            events.registrationRefused(pid, why);
            return;
        }
        peer.registration = registration;
        launcher.registered(registration);
        BrokerFrames.send(connection, BrokerMessage.newBuilder().setRegistered(Registered.newBuilder()
                .setAccepted(true)).build(), 0);
        Registration added = registration;
        events.registered(pid, added.serviceNames(), added.backendAddress);
    }

    /** Fills {@code offers} from {@code register}; null when every offer is well formed, else what is not. */
    private static String offers(Register register, Map<String, Registration.Offer> offers) {
        if (register.getServicesCount() == 0) {
            return "a Register names no service";
        }
        try {
            Endpoint address = Endpoint.parse(register.getBackendAddress());
            if (!address.isUnix()) {
                return "backend_address must be a Unix socket (got '" + register.getBackendAddress() + "')";
            }
        } catch (RuntimeException e) {
            return "backend_address is not an endpoint: '" + register.getBackendAddress() + "'";
        }
        for (ServiceOffer offer : register.getServicesList()) {
            if (Broker.REGISTRATION_SERVICE.equals(offer.getName())) {
                return "service name '" + offer.getName() + "' is the broker's own";
            }
            try {
                Service.Builder service = Service.builder(offer.getName(), offer.getVersion(), NOBODY);
                if (!offer.getMinimumClientVersion().isEmpty()) {
                    service.minimumClientVersion(offer.getMinimumClientVersion());
                }
                service.allowClientVersions(offer.getAllowedClientVersionsList().toArray(String[]::new));
                if (offers.putIfAbsent(offer.getName(), new Registration.Offer(service.build(),
                        offer.getCapabilities(), offer)) != null) {
                    return "service '" + offer.getName() + "' is offered twice";
                }
            } catch (RuntimeException e) {
                return "service offer '" + offer.getName() + "' is malformed: " + e.getMessage();
            }
        }
        return null;
    }

    // ---------------------------------------------------------------------------------------------------

    private static void refuse(Connection connection, HelloChecks checks, HelloChecks.Refusal refusal) {
        send(connection, HelloReply.newBuilder().setRefused(Refused.newBuilder()
                .setCode(refusal.code())
                .setReason(refusal.reason())
                .setServerMinProtocolVersion(checks.minProtocol())
                .setServerMaxProtocolVersion(checks.maxProtocol())
                .setRetryAfterMs((int) Math.min(Integer.MAX_VALUE, refusal.retryAfterMs()))
                .putAllDetails(refusal.details())).build());
        connection.closeWithGoAway(GoAwayReason.HANDSHAKE_FAILED, refusal.code() + ": " + refusal.reason());
    }

    private static boolean send(Connection connection, HelloReply reply) {
        byte[] bytes = reply.toByteArray();
        return connection.offerFrame(FrameType.HELLO_REPLY, new UnsafeBuffer(bytes), 0, bytes.length);
    }

    private static long pid(Connection connection) {
        PeerCredentials credentials = connection.peerCredentials();
        return credentials != null ? credentials.pid().orElse(-1) : -1;
    }
}
