package dev.capwire.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeRefusedException;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.proto.RefusedCode;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.CachedNanoClock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A broker's Hello rate limit and handshake bound are set on its builder, as a direct server's are: they used to
 * come from the system properties only, so two brokers in one JVM could not differ, and neither could a broker
 * from the properties its backends read. Here each is set far below its property's default and is seen to hold.
 */
class BrokerSettingsTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwbrokeropts");

    private static final ClientOptions NOBODY_SERVES_IT = ClientOptions.builder("unserved").noSecret().build();

    @Test
    void theHelloRateLimitIsTheBuilders() throws Exception {
        CachedNanoClock clock = new CachedNanoClock();
        clock.update(1_000_000_000L);
        Endpoint endpoint = DIR.endpoint("rate");
        try (Transport brokerSide = Transport.create(TransportOptions.builder().clock(clock).build());
                Transport clientSide = Transport.create(TransportOptions.defaults());
                Broker broker = Broker.builder(brokerSide).noSecret().helloRateLimit(2).build()) {
            broker.listen(endpoint);
            for (int i = 0; i < 2; i++) {
                HandshakeRefusedException unknown = assertThrows(HandshakeRefusedException.class,
                        () -> HandshakeClient.connect(clientSide, endpoint, NOBODY_SERVES_IT, (c, f) -> { }));
                assertEquals(RefusedCode.SERVICE_UNKNOWN, unknown.refusedCode(), unknown.getMessage());
            }
            HandshakeRefusedException limited = assertThrows(HandshakeRefusedException.class,
                    () -> HandshakeClient.connect(clientSide, endpoint, NOBODY_SERVES_IT, (c, f) -> { }));
            assertEquals(RefusedCode.RATE_LIMITED, limited.refusedCode(), limited.getMessage());
            clock.advance(TimeUnit.SECONDS.toNanos(1)); // the bucket refills: checked again, and unknown again
            HandshakeRefusedException again = assertThrows(HandshakeRefusedException.class,
                    () -> HandshakeClient.connect(clientSide, endpoint, NOBODY_SERVES_IT, (c, f) -> { }));
            assertEquals(RefusedCode.SERVICE_UNKNOWN, again.refusedCode(), again.getMessage());
        }
    }

    @Test
    void theHandshakeBoundIsTheBuilders() throws Exception {
        Endpoint endpoint = DIR.endpoint("slots");
        try (Transport brokerSide = Transport.create(TransportOptions.defaults());
                Transport clientSide = Transport.create(TransportOptions.defaults());
                Broker broker = Broker.builder(brokerSide).noSecret().maxHandshaking(1).maxHandshakingPerPeer(1)
                        .build()) {
            broker.listen(endpoint);
            // Capwire's own socket, not the JDK's: a JDK channel's first use makes a descriptor the JDK keeps for
            // good (on Java 25 after this class's count of open fds began, so it read as a leak).
            try (NativeSocket silent = NativeSocket.connect(endpoint.socketAddress(), 5_000)) {
                // It says no Hello and holds the one slot until its handshake timeout: the next is closed at once.
                Exception refused = assertThrows(Exception.class,
                        () -> HandshakeClient.connect(clientSide, endpoint, NOBODY_SERVES_IT, (c, f) -> { }));
                assertEquals(false, refused instanceof HandshakeRefusedException, "closed before any Hello was read: "
                        + refused);
            }
        }
    }

    /**
     * A setting the broker refuses only as it builds (a Hello rate limit below 1, an activation given twice) fails
     * the build and leaves no thread behind: the hand-off sweep's timer thread used to be started first, and ran
     * for good with nobody to close it.
     */
    @Test
    void aBrokerThatFailsToBuildLeavesNoThreadRunning() throws Exception {
        long timersBefore = brokerTimerThreads();
        try (Transport brokerSide = Transport.create(TransportOptions.defaults())) {
            assertThrows(IllegalArgumentException.class, () -> Broker.builder(brokerSide).noSecret().helloRateLimit(0)
                    .build());
            Activation twice = Activation.builder("twice", "1.0.0", java.util.List.of("true")).build();
            assertThrows(IllegalArgumentException.class, () -> Broker.builder(brokerSide).noSecret().activate(twice)
                    .activate(twice).build());
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (brokerTimerThreads() > timersBefore && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(timersBefore, brokerTimerThreads(), "capwire-broker-timer threads left running");
    }

    private static long brokerTimerThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("capwire-broker-timer"))
                .count();
    }
}
