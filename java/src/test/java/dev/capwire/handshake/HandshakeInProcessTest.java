package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.testing.RawFrames;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.Response;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.RefusedCode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The handshake's rules with both ends in this JVM, for fast feedback on each rule; the cross-process tests
 * prove the same with real client processes and real credentials.
 */
@ExtendWith(NoLeaks.class)
class HandshakeInProcessTest {
    private static final FrameListener ECHO = (connection, frame) -> {
        if (frame.type() == FrameType.REQUEST) {
            connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength());
        }
    };
    private static final SharedSecret SECRET = SharedSecret.of(new byte[] {
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
        30, 31, 32});

    private Path dir;
    private Transport transport;
    private final List<HandshakeOutcome> outcomes = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwh");
        transport = Transport.create(TransportOptions.defaults());
    }

    @AfterEach
    void stop() throws Exception {
        transport.close();
        Files.deleteIfExists(dir.resolve("s"));
        Files.deleteIfExists(dir);
    }

    private Endpoint serve(HandshakeServer.Builder server) throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
        server.listener(outcomes::add).build().listen(endpoint);
        return endpoint;
    }

    private HandshakeServer.Builder echoServer() {
        return HandshakeServer.builder(transport).noSecret()
                .service(Service.builder("echo", "1.4.0", ECHO).minimumClientVersion("2.0.0").build());
    }

    private static ClientOptions.Builder client() {
        return ClientOptions.builder("echo").clientVersion("2.1.0").wantedServiceVersion("1.2.0").noSecret();
    }

    @Test
    void aGoodHelloIsNegotiatedAndCallsFlow() throws Exception {
        Endpoint endpoint = serve(echoServer().capabilities(0b1011).keepaliveIntervalMs(2000));
        try (NegotiatedConnection echo = HandshakeClient.connect(transport, endpoint,
                client().capabilities(0b0110).keepaliveIntervalMs(50).build(), (c, f) -> { })) {
            assertEquals(1, echo.protocolVersion());
            assertEquals("1.4.0", echo.serverVersion());
            assertEquals(0b0010, echo.capabilities());
            assertEquals(100, echo.keepaliveIntervalMs(), "clamped to the server's minimum");
            assertEquals(1, echo.warnings().size(), echo.warnings().toString());
            UnsafeBuffer payload = new UnsafeBuffer("ping".getBytes());
            Response reply = echo.connection().call(2, 1, payload, 0, 4, 5000);
            assertArrayEquals("ping".getBytes(), reply.payload());
        }
        assertEquals(1, outcomes.size());
        assertTrue(outcomes.get(0).accepted(), outcomes.toString());
        assertEquals(ProcessHandle.current().pid(), outcomes.get(0).credentials().pid().getAsLong());
    }

    /** Invoker mode: one thread runs the loop, the server and the client; the handshake must drive the loop. */
    @Test
    void theHandshakeWorksInInvokerModeWithBothEndsOnTheCallingThread() throws Exception {
        try (Transport invoker = Transport.create(TransportOptions.builder().eventLoops(0).build())) {
            Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
            HandshakeServer.builder(invoker).secret(SECRET)
                    .service(Service.builder("echo", "1.4.0", ECHO).build()).build().listen(endpoint);
            try (NegotiatedConnection echo = HandshakeClient.connect(invoker, endpoint, client().secret(SECRET).build(),
                    (c, f) -> { })) {
                Response reply = echo.connection().call(2, 1, new UnsafeBuffer("in".getBytes()), 0, 2, 5000);
                assertArrayEquals("in".getBytes(), reply.payload());
            }
        }
    }

    /**
     * A handshake started from a callback of the loop it needs can never be answered on time (with both ends on
     * one loop the server's reply is loop work the callback holds up), and a poll() from a callback would run
     * the loop re-entrantly: both fail at once, the service answers the call that asked for them, and the
     * transport serves on.
     */
    @Test
    void aHandshakeOrAPollFromALoopCallbackFailsAtOnce() throws Exception {
        try (Transport invoker = Transport.create(TransportOptions.builder().eventLoops(0).build())) {
            assertCallbackCannotHandshake(invoker, Endpoint.unix(dir.resolve("s")));
        }
        Files.deleteIfExists(dir.resolve("s"));
        assertCallbackCannotHandshake(transport, Endpoint.unix(dir.resolve("s")));
    }

    private static void assertCallbackCannotHandshake(Transport transport, Endpoint endpoint) throws Exception {
        FrameListener reentrant = (connection, frame) -> {
            if (frame.type() != FrameType.REQUEST) {
                return;
            }
            String failures = failureOf(() -> HandshakeClient.connect(transport, endpoint, client().build(),
                    (c, f) -> { }).close());
            if (frame.methodId() == 2) {
                failures += " | " + failureOf(transport::poll);
            }
            byte[] answer = failures.getBytes();
            connection.respond(frame.correlationId(), new UnsafeBuffer(answer), 0, answer.length);
        };
        HandshakeServer.builder(transport).noSecret()
                .service(Service.builder("echo", "1.4.0", reentrant).minimumClientVersion("2.0.0").build())
                .build().listen(endpoint);
        try (NegotiatedConnection echo = HandshakeClient.connect(transport, endpoint, client().build(),
                (c, f) -> { })) {
            long started = System.nanoTime();
            String answer = new String(echo.connection().call(2, 1, new UnsafeBuffer(new byte[1]), 0, 1, 20_000)
                    .payload());
            assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started) < 5_000,
                    "the callback waited for its handshake instead of failing at once: " + answer);
            assertTrue(answer.startsWith("IllegalStateException: HandshakeClient.connect(" + endpoint + ") blocks"),
                    answer);
            if (!transport.isDrivenByCurrentThread()) {
                assertFalse(answer.contains(" | "), answer); // poll() is only for invoker mode
            } else {
                String polled = new String(echo.connection().call(2, 2, new UnsafeBuffer(new byte[1]), 0, 1, 20_000)
                        .payload());
                assertTrue(polled.endsWith(" | IllegalStateException: poll() called from a callback of the loop it"
                        + " would run: return from the callback, and the owning thread's next poll() goes on"), polled);
            }
            // The loop serves on: a handshake from outside any callback still works.
            try (NegotiatedConnection another = HandshakeClient.connect(transport, endpoint, client().build(),
                    (c, f) -> { })) {
                assertTrue(another.connection().isOpen());
            }
        }
    }

    private interface Attempt {
        void run() throws Exception;
    }

    private static String failureOf(Attempt attempt) {
        try {
            attempt.run();
            return "no failure";
        } catch (Exception e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    /**
     * A negotiated connection always has a keepalive timer pending. The loop must park until that timer is
     * due, not wake at every tick of the timer wheel: that once cost an idle loop a third of a core.
     */
    @Test
    void anIdleNegotiatedConnectionLetsItsLoopSleep() throws Exception {
        Endpoint endpoint = serve(echoServer().keepaliveIntervalMs(10_000));
        try (NegotiatedConnection echo = HandshakeClient.connect(transport, endpoint, client().build(), (c, f) -> { })) {
            Thread.sleep(200); // past the loop's yield phase (capwire.parkAfterIdleMicros)
            long before = loopCpuNanos();
            Thread.sleep(2000);
            long spentMs = (loopCpuNanos() - before) / 1_000_000;
            assertTrue(spentMs < 200, "the idle loop used " + spentMs + " ms of CPU in 2 s");
            assertTrue(echo.connection().isOpen());
        }
    }

    private static long loopCpuNanos() {
        java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        long total = 0;
        for (java.lang.management.ThreadInfo thread : threads.dumpAllThreads(false, false)) {
            if (thread.getThreadName().startsWith("capwire-")) {
                total += threads.getThreadCpuTime(thread.getThreadId());
            }
        }
        return total;
    }

    @Test
    void eachRuleRefusesWithItsCode() throws Exception {
        Endpoint endpoint = serve(echoServer());
        assertRefused(endpoint, client().protocolRange(2, 3), RefusedCode.VERSION_UNSUPPORTED);
        assertRefused(endpoint, ClientOptions.builder("bad name!").noSecret(), RefusedCode.PEER_REJECTED);
        assertRefused(endpoint, client().clientVersion("x".repeat(129)), RefusedCode.PEER_REJECTED);
        assertRefused(endpoint, client().library("l".repeat(65), "1"), RefusedCode.PEER_REJECTED);
        assertRefused(endpoint, ClientOptions.builder("other").noSecret(), RefusedCode.SERVICE_UNKNOWN);
        assertRefused(endpoint, client().wantedServiceVersion("2.0.0"), RefusedCode.SERVICE_UNKNOWN);
        assertRefused(endpoint, client().clientVersion("1.9.9"), RefusedCode.VERSION_BLOCKED);
        assertRefused(endpoint, client().clientVersion(""), RefusedCode.VERSION_BLOCKED);
        assertRefused(endpoint, client().claimedPid(1), RefusedCode.PEER_REJECTED);
        assertEquals(9, outcomes.size());
        outcomes.forEach(outcome -> assertEquals(HandshakeOutcome.Result.REFUSED, outcome.result()));
    }

    /** Reassembly before the handshake would let an unknown peer make the server hold megabytes. */
    @Test
    void aFragmentedHelloIsRefusedAtOnce() throws Exception {
        Endpoint endpoint = serve(echoServer());
        try (dev.capwire.bindings.NativeSocket raw = dev.capwire.bindings.NativeSocket.connect(
                endpoint.socketAddress(), 5000)) {
            java.nio.ByteBuffer frame = java.nio.ByteBuffer.allocateDirect(64);
            dev.capwire.wire.FrameHeader.write(new UnsafeBuffer(frame), 0, 64, FrameType.HELLO,
                    dev.capwire.wire.FrameHeader.FLAG_MORE_FRAGMENTS, 1, 0, 0, 0);
            RawFrames.writeFully(raw, frame);
            dev.capwire.wire.proto.GoAway goAway = RawFrames.readGoAway(raw);
            assertEquals(dev.capwire.wire.proto.GoAwayReason.HANDSHAKE_FAILED, goAway.getReason());
            assertTrue(goAway.getMessage().contains("fragmented HELLO"), goAway.getMessage());
        }
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (outcomes.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(10); // reported when the server's side of the connection has closed
        }
        assertEquals(HandshakeOutcome.Result.FAILED, outcomes.get(0).result(), outcomes.toString());
        assertTrue(outcomes.get(0).reason().contains("fragmented HELLO"), outcomes.toString());
    }

    /** Silent connections pin buffers until the handshake timeout; only so many may wait at once. */
    @Test
    void onlySoManyConnectionsMayWaitForTheirHandshake() throws Exception {
        Endpoint endpoint = serve(echoServer().maxHandshaking(2));
        try (dev.capwire.bindings.NativeSocket silent1 = dev.capwire.bindings.NativeSocket.connect(
                        endpoint.socketAddress(), 5000);
                dev.capwire.bindings.NativeSocket silent2 = dev.capwire.bindings.NativeSocket.connect(
                        endpoint.socketAddress(), 5000)) {
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (transport.connectionCount() < 2 && System.nanoTime() < deadline) {
                Thread.sleep(5); // both accepted and waiting for a Hello
            }
            dev.capwire.transport.StatusException full = assertThrows(dev.capwire.transport.StatusException.class,
                    () -> HandshakeClient.connect(transport, endpoint, client().build(), (c, f) -> { }));
            assertEquals(dev.capwire.wire.StatusCode.UNAVAILABLE, full.code(), full.getMessage());
            assertTrue(outcomes.stream().anyMatch(o -> o.reason().contains("2 handshakes already in progress")),
                    outcomes.toString());
        }
        // The silent ones gone, their slots are free again.
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (transport.connectionCount() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        try (NegotiatedConnection echo = HandshakeClient.connect(transport, endpoint, client().build(), (c, f) -> { })) {
            assertTrue(echo.connection().isOpen());
        }
    }

    @Test
    void aPolicyThatRefusesGivesPermissionDenied() throws Exception {
        Endpoint endpoint = serve(echoServer().peerPolicy(PeerPolicy.uidAllowList(123456)));
        HandshakeRefusedException refused = assertRefused(endpoint, client(), RefusedCode.PERMISSION_DENIED);
        assertTrue(refused.reason().contains("is not allowed"), refused.reason());
    }

    @Test
    void theSecretMustBeProvenAndTheServerProvesItBack() throws Exception {
        Endpoint endpoint = serve(echoServer().secret(SECRET));
        try (NegotiatedConnection echo = HandshakeClient.connect(transport, endpoint, client().secret(SECRET).build(),
                (c, f) -> { })) {
            assertTrue(echo.connection().isOpen());
        }
        byte[] wrong = new byte[32];
        HandshakeRefusedException refused = assertRefused(endpoint, client().secret(SharedSecret.of(wrong)),
                RefusedCode.UNAUTHENTICATED);
        assertFalse(refused.getMessage().contains("0102"), refused.getMessage());
        assertRefused(endpoint, client(), RefusedCode.UNAUTHENTICATED);
    }

    @Test
    void aClientWithASecretRefusesAServerThatCannotProveIt() throws Exception {
        Endpoint endpoint = serve(echoServer());
        dev.capwire.transport.StatusException failure = assertThrows(dev.capwire.transport.StatusException.class,
                () -> HandshakeClient.connect(transport, endpoint, client().secret(SECRET).build(), (c, f) -> { }));
        assertEquals(dev.capwire.wire.StatusCode.UNAUTHENTICATED, failure.code(), failure.getMessage());
    }

    private HandshakeRefusedException assertRefused(Endpoint endpoint, ClientOptions.Builder options, RefusedCode code) {
        HandshakeRefusedException refused = assertThrows(HandshakeRefusedException.class,
                () -> HandshakeClient.connect(transport, endpoint, options.build(), (c, f) -> { }));
        assertEquals(code, refused.refusedCode(), refused.getMessage());
        assertEquals(1, refused.serverMinProtocolVersion());
        return refused;
    }

    /**
     * The Hello rate limit runs on the transport's clock: three Hellos in the same instant of a server whose
     * clock the test holds still get two through and the third RATE_LIMITED; a second later on that clock, one
     * more gets through. No sleeping.
     */
    @Test
    void theHelloRateLimitRunsOnTheTransportsClock() throws Exception {
        org.agrona.concurrent.CachedNanoClock clock = new org.agrona.concurrent.CachedNanoClock();
        clock.update(1_000_000_000L);
        try (Transport server = Transport.create(TransportOptions.builder().clock(clock).build())) {
            Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
            HandshakeServer.builder(server).noSecret().helloRateLimit(2)
                    .service(Service.builder("echo", "1.4.0", ECHO).build()).build().listen(endpoint);
            ClientOptions options = ClientOptions.builder("echo").noSecret().build();
            for (int i = 0; i < 2; i++) {
                HandshakeClient.connect(transport, endpoint, options, (c, f) -> { }).close();
            }
            HandshakeRefusedException limited = assertThrows(HandshakeRefusedException.class,
                    () -> HandshakeClient.connect(transport, endpoint, options, (c, f) -> { }));
            assertEquals(RefusedCode.RATE_LIMITED, limited.refusedCode(), limited.getMessage());
            clock.advance(TimeUnit.SECONDS.toNanos(1));
            HandshakeClient.connect(transport, endpoint, options, (c, f) -> { }).close();
        }
    }
}
