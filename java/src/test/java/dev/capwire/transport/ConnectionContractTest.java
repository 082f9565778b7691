package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.testing.RawFrames;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.GoAwayReason;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.CachedNanoClock;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What a layer above the transport (the handshake, the RPC layer, an application) may rely on: its own typed
 * state, the inbound gate, loop-only methods that say so, blocking calls that refuse to block the loop, and
 * time that tests control instead of sleeping through.
 */
class ConnectionContractTest {
    private static final AttributeKey<String> LAYER_A = AttributeKey.create("a", String.class);
    private static final AttributeKey<String> LAYER_B = AttributeKey.create("a", String.class); // same name
    private static final AttributeKey<Integer> COUNT = AttributeKey.create("count", Integer.class);

    private Path dir;
    private Transport server;
    private Transport client;

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwc");
        server = Transport.create(TransportOptions.defaults());
        client = Transport.create(TransportOptions.defaults());
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.close();
        try (var files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Files.deleteIfExists(file);
            }
        }
        Files.deleteIfExists(dir);
    }

    private static void echo(Connection connection, InboundFrame frame) {
        if (frame.type() == FrameType.REQUEST) {
            connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength());
        }
    }

    @Test
    void eachKeyIsItsOwnSlotEvenUnderTheSameName() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("attrs"));
        server.listen(endpoint, ConnectionContractTest::echo);
        Connection connection = client.connect(endpoint, (c, f) -> { });
        assertNull(connection.attribute(LAYER_A));
        connection.setAttribute(LAYER_A, "handshake state");
        connection.setAttribute(LAYER_B, "application state");
        assertEquals("handshake state", connection.attribute(LAYER_A));
        assertEquals("application state", connection.attribute(LAYER_B));
        assertEquals(1, connection.attributeIfAbsent(COUNT, 1));
        assertEquals(1, connection.attributeIfAbsent(COUNT, 2), "a value already there is kept");
        @SuppressWarnings({"unchecked", "rawtypes"})
        AttributeKey<Object> raw = (AttributeKey) COUNT;
        assertThrows(ClassCastException.class, () -> connection.setAttribute(raw, "not an Integer"));
        assertEquals(1, connection.attribute(COUNT));
    }

    /** A server whose connections open behind a gate that admits only NOTIFY (the "login") for a minute. */
    private void listenBehindLoginGate(Endpoint endpoint, FrameListener frames) throws Exception {
        InboundGate gate = new InboundGate("login", GoAwayReason.HANDSHAKE_FAILED, 60_000, FrameType.NOTIFY);
        server.listen(endpoint, new FrameListener() {
            @Override
            public void onOpen(Connection connection) {
                connection.shutGate(gate);
            }

            @Override
            public void onFrame(Connection connection, InboundFrame frame) {
                frames.onFrame(connection, frame);
            }
        });
    }

    /** A gate admitting NOTIFY only: a REQUEST before the gate opens ends the connection with the gate's reason. */
    @Test
    void cancellingARequestsFutureTellsThePeerAndFreesTheSlot() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("cancel"));
        CompletableFuture<Long> requested = new CompletableFuture<>();
        CompletableFuture<Long> cancelled = new CompletableFuture<>();
        server.listen(endpoint, (connection, frame) -> {
            if (frame.type() == FrameType.REQUEST) {
                requested.complete(frame.correlationId()); // and never answered
            } else if (frame.type() == FrameType.CANCEL) {
                cancelled.complete(frame.correlationId());
            }
        });
        Connection connection = client.connect(endpoint, (c, f) -> { });
        UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
        CompletableFuture<Response> reply = connection.request(2, 1, payload, 0, 8, 60_000);
        long id = requested.get(10, TimeUnit.SECONDS);
        assertEquals(1, connection.inFlight());
        assertTrue(reply.cancel(true));
        assertEquals(id, cancelled.get(10, TimeUnit.SECONDS), "the peer hears which request nobody waits for");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (connection.inFlight() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertEquals(0, connection.inFlight(), "the in-flight slot is free again");
        assertTrue(connection.isOpen());
    }

    @Test
    void aShutGateEndsTheConnectionOnAFrameItDoesNotAdmit() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("gate"));
        listenBehindLoginGate(endpoint, ConnectionContractTest::echo);
        Connection connection = client.connect(endpoint, (c, f) -> { });
        UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
        ExecutionException failure = assertThrows(ExecutionException.class,
                () -> connection.request(2, 0, payload, 0, 8).get(10, TimeUnit.SECONDS));
        assertEquals(StatusCode.UNAVAILABLE, ((StatusException) failure.getCause()).code());
        CloseReason reason = connection.closeFuture().get(10, TimeUnit.SECONDS);
        assertTrue(reason.toString().contains("HANDSHAKE_FAILED (REQUEST before the login completed)"),
                reason.toString());
    }

    /** The same gate, opened by the layer once the frame it waited for came: then everything flows. */
    @Test
    void anOpenedGateAdmitsEverything() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("open"));
        listenBehindLoginGate(endpoint, (connection, frame) -> {
            if (frame.type() == FrameType.NOTIFY) {
                connection.openGate();
                return;
            }
            echo(connection, frame);
        });
        Connection connection = client.connect(endpoint, (c, f) -> { });
        UnsafeBuffer payload = new UnsafeBuffer("let me in".getBytes());
        assertTrue(connection.offerNotify(2, 0, payload, 0, payload.capacity()));
        Response reply = connection.call(2, 0, payload, 0, payload.capacity(), 10_000);
        assertArrayEquals("let me in".getBytes(), reply.payload());
    }

    @Test
    void loopOnlyMethodsRefuseOtherThreads() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("loop-only"));
        server.listen(endpoint, ConnectionContractTest::echo);
        Connection connection = client.connect(endpoint, (c, f) -> { });
        InboundGate gate = new InboundGate("login", GoAwayReason.HANDSHAKE_FAILED, 1000);
        IllegalStateException shut = assertThrows(IllegalStateException.class, () -> connection.shutGate(gate));
        assertTrue(shut.getMessage().contains("shutGate is loop work"), shut.getMessage());
        assertThrows(IllegalStateException.class, connection::openGate);
        assertThrows(IllegalStateException.class, () -> connection.startKeepalive(1000, 3));
        assertThrows(IllegalStateException.class, () -> connection.limitFrameBytes(1024));
        assertThrows(IllegalArgumentException.class,
                () -> connection.offerFrame(FrameType.GOAWAY, new UnsafeBuffer(new byte[0]), 0, 0),
                "the transport's own frames cannot be forged through offerFrame");
        assertTrue(connection.isOpen());
    }

    /**
     * A listener that makes a blocking call on its loop's thread would wait for the loop it holds up; it fails
     * at once instead, naming the rule, and the loop goes on serving.
     */
    @Test
    void aBlockingCallAsLoopWorkFailsAtOnceNamingTheRule() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("blocking"));
        CompletableFuture<Throwable> seen = new CompletableFuture<>();
        server.listen(endpoint, (connection, frame) -> {
            if (frame.type() == FrameType.NOTIFY) {
                try {
                    connection.call(2, 0, frame.buffer(), frame.payloadOffset(), frame.payloadLength(), 60_000);
                    seen.complete(null);
                } catch (Throwable e) {
                    seen.complete(e);
                }
                return;
            }
            echo(connection, frame);
        });
        Connection connection = client.connect(endpoint, ConnectionContractTest::echo);
        UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
        assertTrue(connection.offerNotify(2, 0, payload, 0, 8));
        Throwable failure = seen.get(10, TimeUnit.SECONDS);
        assertTrue(failure instanceof IllegalStateException, String.valueOf(failure));
        assertTrue(failure.getMessage().contains("Connection.call() blocks")
                && failure.getMessage().contains("loop work must never wait"), failure.getMessage());
        assertArrayEquals(new byte[8], connection.call(2, 0, payload, 0, 8, 10_000).payload(),
                "the server's loop still serves");
    }

    /** A request's deadline on a clock the test moves: no sleeping, and nothing fires before its time. */
    @Test
    void aDeadlineFiresWhenTheInjectedClockPassesIt() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("deadline"));
        server.listen(endpoint, (connection, frame) -> { }); // never answers
        CachedNanoClock clock = new CachedNanoClock();
        clock.update(1_000_000_000L);
        try (Transport invoker = Transport.create(TransportOptions.builder().eventLoops(0).clock(clock).build())) {
            Connection connection = invoker.connect(endpoint, (c, f) -> { });
            CompletableFuture<Response> reply = connection.request(2, 0, new UnsafeBuffer(new byte[4]), 0, 4, 5_000);
            pollFor(invoker, 10_000);
            assertFalse(reply.isDone(), "no reply, and the clock has not moved");
            clock.advance(TimeUnit.MILLISECONDS.toNanos(4_900));
            pollFor(invoker, 10_000);
            assertFalse(reply.isDone(), "4.9 s of the 5 s deadline have passed");
            clock.advance(TimeUnit.MILLISECONDS.toNanos(200));
            pollUntil(invoker, reply);
            ExecutionException failure = assertThrows(ExecutionException.class, reply::get);
            assertEquals(StatusCode.DEADLINE_EXCEEDED, ((StatusException) failure.getCause()).code());
            assertTrue(connection.isOpen(), "a passed deadline fails the request, not the connection");
        }
    }

    /**
     * Keepalive on an injected clock: a peer that accepts nothing and answers nothing (a listening socket
     * nobody accepts on) is declared unresponsive after maxMissed intervals of the clock, not of wall time.
     */
    @Test
    void keepaliveDeclaresASilentPeerDeadOnTheInjectedClock() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("silent"));
        CachedNanoClock clock = new CachedNanoClock();
        clock.update(1_000_000_000L);
        try (NativeSocket listening = NativeSocket.listen(endpoint.socketAddress(), 16);
                Transport invoker = Transport.create(TransportOptions.builder().eventLoops(0).clock(clock).build())) {
            Connection connection = invoker.connect(endpoint, (c, f) -> { });
            NativeSocket silent = listening.accept(); // accepted, never answered
            connection.startKeepalive(1_000, 3); // invoker mode: the test's thread is the loop
            for (int second = 1; second <= 2; second++) {
                clock.advance(TimeUnit.SECONDS.toNanos(1));
                pollFor(invoker, 5_000);
                assertTrue(connection.isOpen(), second + " intervals of silence are not yet 3");
            }
            clock.advance(TimeUnit.MILLISECONDS.toNanos(1_100));
            pollUntil(invoker, connection.closeFuture());
            CloseReason reason = connection.closeFuture().getNow(null);
            assertSame(CloseReason.Kind.PEER_UNRESPONSIVE, reason.kind(), reason.toString());
            // What the silent peer finds when it does read: two PINGs, then a GOAWAY that says why.
            GoAway goAway = RawFrames.readGoAway(silent);
            assertEquals(GoAwayReason.IDLE_TIMEOUT, goAway.getReason(), goAway.toString());
            silent.close();
        }
    }

    /**
     * A second {@link Connection#startKeepalive} (a layer that sets the interval again once it knows more) takes
     * the place of the first: the silent peer gets one PING per silent interval, not one per start. Before the
     * fix each start armed a timer of its own, and the peer got two PINGs here, every run.
     */
    @Test
    void aSecondKeepaliveStartReplacesTheFirst() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("restarted"));
        CachedNanoClock clock = new CachedNanoClock();
        clock.update(1_000_000_000L);
        try (NativeSocket listening = NativeSocket.listen(endpoint.socketAddress(), 16);
                Transport invoker = Transport.create(TransportOptions.builder().eventLoops(0).clock(clock).build())) {
            Connection connection = invoker.connect(endpoint, (c, f) -> { });
            NativeSocket silent = listening.accept(); // accepted, never answered
            connection.startKeepalive(1_000, 10);
            connection.startKeepalive(1_000, 10);
            clock.advance(TimeUnit.MILLISECONDS.toNanos(1_100));
            pollFor(invoker, 5_000);
            RawFrames.readFrame(silent, FrameType.PING);
            assertEquals(0, silent.read(ByteBuffer.allocateDirect(64)), "more than one PING for one silent interval");
            silent.close();
        }
    }

    /**
     * The negotiated frame limit holds both ways: once a layer lowers it (as the handshake does), a larger frame
     * from the peer is FRAME_TOO_LARGE even though it is within this side's own limit.
     */
    @Test
    void aLoweredFrameLimitIsEnforcedOnWhatArrives() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("limit"));
        server.listen(endpoint, new FrameListener() {
            @Override
            public void onOpen(Connection connection) {
                connection.limitFrameBytes(1024);
            }

            @Override
            public void onFrame(Connection connection, InboundFrame frame) {
                echo(connection, frame);
            }
        });
        Connection connection = client.connect(endpoint, (c, f) -> { });
        UnsafeBuffer small = new UnsafeBuffer(new byte[1000]);
        assertEquals(1000, connection.call(2, 0, small, 0, 1000, 10_000).payload().length);
        UnsafeBuffer large = new UnsafeBuffer(new byte[2000]);
        assertTrue(connection.offerNotify(2, 0, large, 0, 2000));
        CloseReason reason = connection.closeFuture().get(10, TimeUnit.SECONDS);
        assertTrue(reason.toString().contains("FRAME_TOO_LARGE"), reason.toString());
    }

    /** Runs the invoker loop for a number of duty cycles (the timer wheel moves one tick per cycle). */
    private static void pollFor(Transport invoker, int cycles) {
        for (int i = 0; i < cycles; i++) {
            invoker.poll();
        }
    }

    private static void pollUntil(Transport invoker, CompletableFuture<?> done) {
        for (int i = 0; i < 1_000_000 && !done.isDone(); i++) {
            invoker.poll();
        }
        assertTrue(done.isDone(), "not done after a million duty cycles");
    }
}
