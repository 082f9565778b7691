package dev.capwire.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeRefusedException;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.handshake.PeerPolicy;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.RawFrames;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.RefusedCode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Hand-offs that fail, with the broker in this process (so a test can hold its loop in a policy, or give it a
 * listener that throws) and a backend in a child JVM that never acknowledges ({@code BackendMain silent}): every
 * such hand-off must still end, its client sent to the backend's own address and the broker's copy of the socket
 * closed, whatever else happens on the broker meanwhile.
 */
class HandoffFailurePathsTest {
    private static final long WAIT_SECONDS = 30;
    private static final long ACK_MS = 100;
    /** A client gives up waiting for the takeover after this; a hand-off that never ends fails its connect. */
    private static final long CLIENT_HANDSHAKE_MS = 5_000;

    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cwf");

    private static int round;
    private final List<Throwable> errors = new CopyOnWriteArrayList<>();
    private Transport brokerTransport;
    private Transport clientTransport;
    private final List<ChildJvm> backends = new ArrayList<>();
    private Endpoint brokerAddress;
    private Endpoint backendAddress;
    private Endpoint secondBackendAddress;

    @BeforeEach
    void start() throws Exception {
        round++;
        brokerAddress = SOCKETS.endpoint("broker" + round);
        backendAddress = SOCKETS.endpoint("backend" + round);
        secondBackendAddress = SOCKETS.endpoint("second" + round);
        // Three loops: the listener on one, the backend's registration and the client each on one of their own,
        // so a client's check can be held without holding the others.
        brokerTransport = Transport.create(TransportOptions.builder().eventLoops(3).errorHandler(errors::add).build());
        clientTransport = Transport.create(TransportOptions.defaults());
    }

    @AfterEach
    void stop() {
        clientTransport.close();
        brokerTransport.close();
        backends.forEach(ChildJvm::close);
    }

    /** A backend in {@code mode} with fallback {@code address}, once it was told it is registered. */
    private void startBackend(String mode, Endpoint address) throws Exception {
        ChildJvm backend = ChildJvm.start(BackendMain.class, mode, brokerAddress.toString(), address.toString(),
                Long.toString(ACK_MS));
        backends.add(backend);
        backend.expect("READY", WAIT_SECONDS);
    }

    private void silentBackendRegistered(CountDownLatch registered) throws Exception {
        startBackend("silent", backendAddress);
        assertTrue(registered.await(WAIT_SECONDS, TimeUnit.SECONDS), "the backend registered");
    }

    /** A client that waits for the takeover frame, so the hand-off's fallback happens inside its connect. */
    private NegotiatedConnection connect() throws Exception {
        return HandshakeClient.connect(clientTransport, brokerAddress, ClientOptions.builder(BackendMain.SERVICE)
                .noSecret().callsBeforeTakeover(false).handshakeTimeoutMs(CLIENT_HANDSHAKE_MS).build(), (c, f) -> { });
    }

    private static void awaitNoHandoffPending(Broker broker) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        while (broker.pendingHandoffs() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, broker.pendingHandoffs(), "hand-offs still pending");
    }

    /**
     * A BrokerListener that throws an Error when told of a fallback, on the broker's timer thread: reported, and
     * the next overdue hand-off still expires (an Error escaping the sweep would end it for good, leaving every
     * later unacknowledged hand-off, its token and its socket, pending for ever).
     */
    @Test
    void aListenerErrorOnTheTimerThreadDoesNotStopLaterHandoffsExpiring() throws Exception {
        CountDownLatch registered = new CountDownLatch(1);
        Broker broker = Broker.builder(brokerTransport).noSecret().handoffAckMs(ACK_MS).listener(new BrokerListener() {
            @Override
            public void onRegistered(long pid, List<String> services, String address) {
                registered.countDown();
            }

            @Override
            public void onFallback(String service, long clientPid, String why) {
                if (why.contains("did not acknowledge")) { // an expiry, told on the timer thread
                    throw new AssertionError("a listener's own assertion fails on " + why);
                }
            }
        }).build();
        try {
            broker.listen(brokerAddress);
            silentBackendRegistered(registered);
            for (int client = 1; client <= 2; client++) {
                try (NegotiatedConnection connection = connect()) {
                    assertFalse(connection.handedOff(), "client " + client + " went to the backend address");
                }
            }
            awaitNoHandoffPending(broker);
            assertTrue(errors.stream().anyMatch(e -> String.valueOf(e.getMessage()).contains("onFallback")),
                    "the listener's failure was reported: " + errors);
        } finally {
            broker.close();
        }
    }

    /**
     * A client whose Hello is being checked while the broker closes: its hand-off comes after the broker
     * abandoned those in flight and stopped its timer, and must end at once (the client sent to the backend's
     * address), not wait for an acknowledgement nobody will time out any more.
     */
    @Test
    void aHandoffThatComesAfterTheBrokerClosedIsAbandoned() throws Exception {
        CountDownLatch registered = new CountDownLatch(1);
        CountDownLatch checking = new CountDownLatch(1);
        CountDownLatch brokerClosed = new CountDownLatch(1);
        Broker broker = Broker.builder(brokerTransport).noSecret().handoffAckMs(ACK_MS)
                .clientPolicy(PeerPolicy.matching("held until the broker closed", (credentials, hello) -> {
                    checking.countDown();
                    try {
                        return brokerClosed.await(WAIT_SECONDS, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return false;
                    }
                }))
                .listener(countingRegistrations(registered)).build();
        try {
            broker.listen(brokerAddress);
            silentBackendRegistered(registered);
            CompletableFuture<NegotiatedConnection> client = CompletableFuture.supplyAsync(() -> {
                try {
                    return connect();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            assertTrue(checking.await(WAIT_SECONDS, TimeUnit.SECONDS), "the client's Hello is being checked");
            broker.close();
            brokerClosed.countDown();
            try (NegotiatedConnection connection = client.get(WAIT_SECONDS, TimeUnit.SECONDS)) {
                assertFalse(connection.handedOff(), "the client went to the backend address");
            }
            awaitNoHandoffPending(broker);
        } finally {
            broker.close();
        }
    }

    /**
     * A client policy that throws, at the broker: the client is refused INTERNAL at once and the failure reported,
     * as a direct server does, rather than left without a reply until its handshake times out.
     */
    @Test
    void aClientPolicyThatThrowsRefusesTheClientAtOnceAndIsReported() throws Exception {
        CountDownLatch registered = new CountDownLatch(1);
        Broker broker = Broker.builder(brokerTransport).noSecret().handoffAckMs(ACK_MS)
                .clientPolicy(PeerPolicy.matching("throws", (credentials, hello) -> {
                    throw new IllegalStateException("boom in the client policy");
                }))
                .listener(countingRegistrations(registered)).build();
        try {
            broker.listen(brokerAddress);
            silentBackendRegistered(registered);
            HandshakeRefusedException refused = assertThrows(HandshakeRefusedException.class, this::connect);
            assertEquals(RefusedCode.INTERNAL, refused.refusedCode());
            assertTrue(errors.stream().anyMatch(e -> e.getCause() != null
                    && "boom in the client policy".equals(e.getCause().getMessage())), "reported: " + errors);
        } finally {
            broker.close();
        }
    }

    /**
     * Two silent backends of one service (a broker with {@code clientPolicy}), the one at {@code backendAddress}
     * registered first: with no client on either, a client goes to it. Each fallback releases {@code fallbacks}.
     */
    private Broker brokerOfTwoSilentBackends(PeerPolicy clientPolicy, Semaphore fallbacks) throws Exception {
        CountDownLatch registered = new CountDownLatch(2);
        Broker broker = Broker.builder(brokerTransport).noSecret().handoffAckMs(ACK_MS).maxBackendsPerService(2)
                .clientPolicy(clientPolicy).listener(new BrokerListener() {
                    @Override
                    public void onRegistered(long pid, List<String> services, String address) {
                        registered.countDown();
                    }

                    @Override
                    public void onFallback(String service, long clientPid, String why) {
                        fallbacks.release();
                    }
                }).build();
        broker.listen(brokerAddress);
        startBackend("silent", backendAddress);
        startBackend("silent", secondBackendAddress);
        assertTrue(registered.await(WAIT_SECONDS, TimeUnit.SECONDS), "both backends registered");
        return broker;
    }

    /** The next client goes to the first backend: no client counts against either (silent backends report none). */
    private void assertTheNextClientGoesToTheFirstBackend() throws Exception {
        try (NegotiatedConnection next = connect()) {
            assertEquals(backendAddress, next.connection().endpoint(), "a hand-off that fell back still counted"
                    + " against the first backend");
        }
    }

    /**
     * Least-loaded routing counts a hand-off against its backend as it starts; one that expires (its client sent
     * to the backend's own address, from where it then leaves) never reached the backend, and no longer counts.
     * It used to count for good: a backend reports its connections only when their number changed.
     */
    @Test
    void anExpiredHandoffNoLongerCountsAgainstItsBackend() throws Exception {
        Semaphore fallbacks = new Semaphore(0);
        Broker broker = brokerOfTwoSilentBackends(PeerPolicy.sameUser(), fallbacks);
        try {
            try (NegotiatedConnection first = connect()) {
                assertFalse(first.handedOff(), "the silent backend's hand-off expired");
                assertEquals(backendAddress, first.connection().endpoint(), "both served nobody: the first");
            }
            assertTrue(fallbacks.tryAcquire(WAIT_SECONDS, TimeUnit.SECONDS), "the hand-off fell back");
            assertTheNextClientGoesToTheFirstBackend();
        } finally {
            broker.close();
        }
    }

    /**
     * As above, for a hand-off that falls back before its socket reaches the backend: the client hung up while
     * its Hello was being checked, so the broker's Negotiated (or the detach itself) finds it gone.
     */
    @Test
    void aHandoffWhoseClientHungUpDoesNotCountAgainstItsBackend() throws Exception {
        CountDownLatch checking = new CountDownLatch(1);
        CountDownLatch hungUp = new CountDownLatch(1);
        AtomicBoolean holdNext = new AtomicBoolean(true);
        Semaphore fallbacks = new Semaphore(0);
        Broker broker = brokerOfTwoSilentBackends(PeerPolicy.matching("the first client held until it hung up",
                (credentials, hello) -> {
                    if (!holdNext.getAndSet(false)) {
                        return true;
                    }
                    checking.countDown();
                    try {
                        return hungUp.await(WAIT_SECONDS, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return false;
                    }
                }), fallbacks);
        try {
            try (NativeSocket raw = NativeSocket.connect(brokerAddress.socketAddress(), 5000)) {
                RawFrames.writeFully(raw, Hellos.helloFrame(BackendMain.SERVICE));
                assertTrue(checking.await(WAIT_SECONDS, TimeUnit.SECONDS), "its Hello is being checked");
            }
            hungUp.countDown();
            assertTrue(fallbacks.tryAcquire(WAIT_SECONDS, TimeUnit.SECONDS), "the hand-off fell back");
            assertTheNextClientGoesToTheFirstBackend();
        } finally {
            broker.close();
        }
    }

    /**
     * A backend that stopped reading its registration connection: once the broker's queue to it is full, a
     * hand-off to it, sent from the client's event loop, is refused at once and the client told (Negotiated,
     * then a GOAWAY naming the backend's own address). It used to hold that loop, and every client on it, for
     * the transport's sendTimeoutMs, set here far beyond what the test waits for an answer: that wait reads as
     * a hang (a client with no Negotiated in 10 s).
     */
    @Test
    void aHandoffToABackendThatStoppedReadingFallsBackWithoutHoldingTheClientsLoop() throws Exception {
        CountDownLatch registered = new CountDownLatch(1);
        CountDownLatch refused = new CountDownLatch(1);
        long never = TimeUnit.MINUTES.toMillis(10);
        List<NativeSocket> clients = new ArrayList<>();
        try (Transport smallQueues = Transport.create(TransportOptions.builder().eventLoops(3)
                .errorHandler(errors::add).ringBytes(16 * 1024).socketSendBufferBytes(4096).sendTimeoutMs(never)
                .sendStallTimeoutMs(never).build());
                Broker broker = Broker.builder(smallQueues).noSecret().handoffAckMs(ACK_MS).keepaliveIntervalMs(0)
                        .helloRateLimit(1_000_000).maxHandshaking(10_000).maxHandshakingPerPeer(10_000)
                        .listener(new BrokerListener() {
                            @Override
                            public void onRegistered(long pid, List<String> services, String address) {
                                registered.countDown();
                            }

                            @Override
                            public void onFallback(String service, long clientPid, String why) {
                                if (why.startsWith("the backend's registration connection took no hand-off")) {
                                    refused.countDown();
                                }
                            }
                        }).build()) {
            broker.listen(brokerAddress);
            startBackend("stalls", backendAddress);
            assertTrue(registered.await(WAIT_SECONDS, TimeUnit.SECONDS), "the backend registered");
            try {
                for (int client = 0; client < 2_000 && refused.getCount() > 0; client++) {
                    NativeSocket raw = NativeSocket.connect(brokerAddress.socketAddress(), 5000);
                    clients.add(raw);
                    RawFrames.writeFully(raw, Hellos.helloFrame(BackendMain.SERVICE));
                    RawFrames.readFrame(raw, FrameType.HELLO_REPLY); // fails after 10 s: a client left hanging
                }
                assertTrue(refused.await(WAIT_SECONDS, TimeUnit.SECONDS), "a hand-off the full queue could not take"
                        + " fell back");
                boolean toldTheAddress = false;
                for (NativeSocket raw : clients) {
                    // Each ends: a GOAWAY when refused, the end of the stream when its hand-off expired.
                    byte[] rest = RawFrames.readToEnd(raw);
                    if (rest.length > 0) {
                        assertEquals(FrameType.GOAWAY, rest[FrameHeader.TYPE_OFFSET], "what follows the Negotiated");
                        GoAway goAway = GoAway.parseFrom(Arrays.copyOfRange(rest, FrameHeader.HEADER_LENGTH,
                                rest.length));
                        assertEquals(GoAwayReason.HANDOFF_ABANDONED, goAway.getReason());
                        toldTheAddress |= goAway.getMessage().endsWith("connect to backend_address " + backendAddress);
                    }
                }
                assertTrue(toldTheAddress, "a refused client was sent to the backend's own address");
            } finally {
                clients.forEach(NativeSocket::close);
            }
        }
    }

    /** A listener that only counts {@code registered} down as a backend registers. */
    private static BrokerListener countingRegistrations(CountDownLatch registered) {
        return new BrokerListener() {
            @Override
            public void onRegistered(long pid, List<String> services, String address) {
                registered.countDown();
            }
        };
    }
}
