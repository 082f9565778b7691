package dev.capwire.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeRefusedException;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.handshake.PeerPolicy;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.proto.RefusedCode;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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
    private ChildJvm backend;
    private Endpoint brokerAddress;
    private Endpoint backendAddress;

    @BeforeEach
    void start() throws Exception {
        round++;
        brokerAddress = SOCKETS.endpoint("broker" + round);
        backendAddress = SOCKETS.endpoint("backend" + round);
        // Three loops: the listener on one, the backend's registration and the client each on one of their own,
        // so a client's check can be held without holding the others.
        brokerTransport = Transport.create(TransportOptions.builder().eventLoops(3).errorHandler(errors::add).build());
        clientTransport = Transport.create(TransportOptions.defaults());
    }

    @AfterEach
    void stop() {
        clientTransport.close();
        brokerTransport.close();
        if (backend != null) {
            backend.close();
        }
    }

    private void silentBackendRegistered(CountDownLatch registered) throws Exception {
        backend = ChildJvm.start(BackendMain.class, "silent", brokerAddress.toString(), backendAddress.toString(),
                Long.toString(ACK_MS));
        backend.expect("READY", WAIT_SECONDS);
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
