package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.Leaks;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Response;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.RefusedCode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The reconnecting client against real server processes that are killed, restarted, or never come back. */
@ExtendWith(NoLeaks.class)
class ReconnectingClientTest {
    private static final long WAIT_SECONDS = 20;
    private static final byte[] PING = "ping".getBytes(StandardCharsets.US_ASCII);


    private Path dir;
    private Endpoint endpoint;
    private Transport transport;
    private final List<ChildJvm> children = new ArrayList<>();
    private final Events events = new Events();

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwr");
        endpoint = Endpoint.unix(dir.resolve("s"));
        transport = Transport.create(TransportOptions.defaults());
    }

    @AfterEach
    void stop() throws Exception {
        transport.close();
        for (ChildJvm child : children) {
            child.close();
        }
        Files.deleteIfExists(dir.resolve("s"));
        Files.deleteIfExists(dir);
    }

    private ChildJvm startServer(String... extraArgs) throws Exception {
        List<String> args = new ArrayList<>(List.of(endpoint.toString()));
        args.addAll(List.of(extraArgs));
        ChildJvm child = ChildJvm.start(ReconnectServerMain.class, args.toArray(new String[0]));
        children.add(child);
        child.expect("READY", 30);
        return child;
    }

    private ReconnectingClient.Builder client(String service) {
        return ReconnectingClient.builder(transport, endpoint, ClientOptions.builder(service).noSecret().build(),
                (connection, frame) -> { }).listener(events);
    }

    private static Response echo(ReconnectingClient client) {
        return client.call(2, ReconnectServerMain.METHOD_ECHO, new UnsafeBuffer(PING), 0, PING.length, 10_000);
    }

    private static CompletableFuture<Response> hold(ReconnectingClient client) {
        return client.request(2, ReconnectServerMain.METHOD_HOLD, new UnsafeBuffer(PING), 0, PING.length, 60_000);
    }

    private static int requestsBeforeThisOne(ReconnectingClient client) {
        Response reply = client.call(2, ReconnectServerMain.METHOD_COUNT, new UnsafeBuffer(PING), 0, PING.length,
                10_000);
        return Integer.parseInt(new String(reply.payload(), StandardCharsets.US_ASCII));
    }

    private static String hellos(ChildJvm server) throws Exception {
        server.send("hellos");
        return server.expect("HELLOS", WAIT_SECONDS);
    }

    private static StatusException failureOf(CompletableFuture<Response> future) throws Exception {
        ExecutionException e = assertThrows(ExecutionException.class, () -> future.get(WAIT_SECONDS, TimeUnit.SECONDS));
        return assertInstanceOf(StatusException.class, e.getCause());
    }

    /** Waits for the client's reconnect thread to end on its own (after it gave up). */
    private static void assertReconnectThreadGone() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        while (Leaks.capwireThreads().stream().anyMatch(name -> name.startsWith("capwire-reconnect-"))) {
            if (System.nanoTime() > deadline) {
                fail("reconnect thread still running: " + Leaks.capwireThreads());
            }
            Thread.sleep(20);
        }
    }

    @Test
    void callsResumeOnANewConnectionAfterTheServerIsKilledAndRestarted() throws Exception {
        ChildJvm first = startServer();
        try (ReconnectingClient client = client(ReconnectServerMain.SERVICE).giveUpAfterMs(60_000).build()) {
            NegotiatedConnection firstConnection = client.awaitConnected(WAIT_SECONDS * 1000);
            assertEquals(firstConnection, events.next(Events.Kind.CONNECTED).connection);
            assertArrayEquals(PING, echo(client).payload());

            List<CompletableFuture<Response>> inFlight = List.of(hold(client), hold(client), hold(client));
            assertEquals(4, requestsBeforeThisOne(client), "the server holds the three requests");
            first.kill();

            for (CompletableFuture<Response> request : inFlight) {
                assertEquals(StatusCode.UNAVAILABLE, failureOf(request).code());
            }
            CloseReason lost = events.next(Events.Kind.DISCONNECTED).reason;
            assertEquals(CloseReason.Kind.REMOTE_CLOSE, lost.kind(), lost.toString());
            assertNull(client.current());
            StatusException whileDown = assertThrows(StatusException.class, () -> echo(client));
            assertEquals(StatusCode.UNAVAILABLE, whileDown.code());
            assertTrue(whileDown.getMessage().contains("not connected"), whileDown.getMessage());
            assertEquals(StatusCode.UNAVAILABLE, failureOf(hold(client)).code(), "fails fast, never queued");
            events.next(Events.Kind.ATTEMPT_FAILED); // it keeps trying while nobody listens

            ChildJvm second = startServer();
            NegotiatedConnection secondConnection = events.next(Events.Kind.CONNECTED).connection;
            assertNotSame(firstConnection, secondConnection);
            assertEquals(secondConnection, client.current());
            assertEquals(0, requestsBeforeThisOne(client), "nothing sent on the lost connection was replayed");
            assertArrayEquals(PING, echo(client).payload());
            assertEquals("1 0", hellos(second), "one Hello, accepted");
            assertNull(events.poll(), "no further events");

            client.close();
            client.close();
            assertTrue(client.current() == null && !secondConnection.connection().isOpen());
            StatusException afterClose = assertThrows(StatusException.class, () -> echo(client));
            assertEquals(StatusCode.UNAVAILABLE, afterClose.code());
            assertTrue(afterClose.getMessage().contains("closed"), afterClose.getMessage());
            assertReconnectThreadGone();
        }
    }

    @Test
    void givesUpWithUnavailableWhenTheServerStaysGone() throws Exception {
        ChildJvm server = startServer();
        try (ReconnectingClient client = client(ReconnectServerMain.SERVICE).giveUpAfterMs(1500).build()) {
            client.awaitConnected(WAIT_SECONDS * 1000);
            events.next(Events.Kind.CONNECTED);
            server.kill();
            events.next(Events.Kind.DISCONNECTED);

            StatusException gaveUp = events.next(Events.Kind.GAVE_UP).cause;
            assertEquals(StatusCode.UNAVAILABLE, gaveUp.code());
            assertTrue(gaveUp.getMessage().contains("last error"), gaveUp.getMessage());
            assertNotNull(gaveUp.getCause(), "names the last error");
            assertTrue(events.count(Events.Kind.ATTEMPT_FAILED) >= 2, "it retried before giving up: " + events);

            StatusException call = assertThrows(StatusException.class, () -> echo(client));
            assertEquals(StatusCode.UNAVAILABLE, call.code());
            assertTrue(call.getMessage().contains("gave up"), call.getMessage());
            assertEquals(gaveUp.getMessage(), call.getMessage(), "the same message, its code said once");
            assertEquals(StatusCode.UNAVAILABLE, failureOf(hold(client)).code());
            assertEquals(StatusCode.UNAVAILABLE, assertThrows(StatusException.class,
                    () -> client.awaitConnected(1000)).code());
            assertReconnectThreadGone();
            assertNull(events.poll(), "nothing after giving up");
        }
    }

    @Test
    void aClientWhoseServerNeverCameGivesUpToo() throws Exception {
        try (ReconnectingClient client = client(ReconnectServerMain.SERVICE).giveUpAfterMs(1000).build()) {
            StatusException gaveUp = events.next(Events.Kind.GAVE_UP).cause;
            assertEquals(StatusCode.UNAVAILABLE, gaveUp.code());
            assertTrue(gaveUp.getMessage().contains("ENOENT"), gaveUp.getMessage());
            assertReconnectThreadGone();
        }
    }

    @Test
    void aRefusalThatRetryingCannotChangeGivesUpAtOnce() throws Exception {
        ChildJvm server = startServer();
        try (ReconnectingClient client = client("no-such-service").giveUpAfterMs(60_000).build()) {
            StatusException gaveUp = events.next(Events.Kind.GAVE_UP).cause;
            assertEquals(StatusCode.UNAVAILABLE, gaveUp.code());
            HandshakeRefusedException refused = assertInstanceOf(HandshakeRefusedException.class, gaveUp.getCause());
            assertEquals(RefusedCode.SERVICE_UNKNOWN, refused.refusedCode());
            assertReconnectThreadGone();
            assertEquals("0 1", hellos(server), "exactly one Hello, refused");
            assertEquals(0, events.count(Events.Kind.ATTEMPT_FAILED), events.toString());
            assertEquals(StatusCode.UNAVAILABLE, assertThrows(StatusException.class, () -> echo(client)).code());
        }
    }

    @Test
    void aRateLimitedClientWaitsAsLongAsTheServerAsks() throws Exception {
        ChildJvm server = startServer("1"); // one Hello per second from this process
        ClientOptions options = ClientOptions.builder(ReconnectServerMain.SERVICE).noSecret().build();
        HandshakeClient.connect(transport, endpoint, options, (connection, frame) -> { }).close();
        try (ReconnectingClient client = client(ReconnectServerMain.SERVICE).giveUpAfterMs(60_000).build()) {
            Events.Event refusedAttempt = events.next(Events.Kind.ATTEMPT_FAILED);
            HandshakeRefusedException refused = assertInstanceOf(HandshakeRefusedException.class,
                    refusedAttempt.error);
            assertEquals(RefusedCode.RATE_LIMITED, refused.refusedCode());
            assertTrue(refused.retryAfterMs() > 0, refused.toString());
            assertTrue(refusedAttempt.retryInMs >= refused.retryAfterMs(), "waits " + refusedAttempt.retryInMs
                    + " ms though the server asked for " + refused.retryAfterMs());
            events.next(Events.Kind.CONNECTED);
            assertArrayEquals(PING, echo(client).payload());
            assertEquals("2 1", hellos(server));
        }
    }

    @Test
    void closeWhileReconnectingStopsAtOnceWithoutGivingUp() throws Exception {
        ReconnectingClient client = client(ReconnectServerMain.SERVICE).giveUpAfterMs(60_000).build();
        events.next(Events.Kind.ATTEMPT_FAILED);
        events.next(Events.Kind.ATTEMPT_FAILED);
        client.close();
        assertReconnectThreadGone();
        assertNull(events.poll(), "closing is not giving up");
        assertEquals(StatusCode.UNAVAILABLE, assertThrows(StatusException.class,
                () -> client.awaitConnected(1000)).code());
    }

    /**
     * A server that takes the connection (into its backlog) but never answers the Hello. close() must not wait
     * out the 60 s handshake timeout: it interrupts the attempt, whose wait notices within one slice.
     */
    @Test
    void closeDuringAHandshakeThatNeverEndsDoesNotWaitOutItsTimeout() throws Exception {
        try (dev.capwire.bindings.NativeSocket silent = dev.capwire.bindings.NativeSocket.listen(
                endpoint.socketAddress(), 8)) {
            ReconnectingClient client = ReconnectingClient.builder(transport, endpoint,
                    ClientOptions.builder(ReconnectServerMain.SERVICE).noSecret().handshakeTimeoutMs(60_000).build(),
                    (connection, frame) -> { }).listener(events).giveUpAfterMs(120_000).build();
            Thread.sleep(300); // the first attempt is connected and waiting for the reply by now
            long started = System.nanoTime();
            client.close();
            long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            assertTrue(tookMs < 30_000, "close() waited " + tookMs + " ms, as if for the handshake timeout");
            assertReconnectThreadGone();
            assertNull(events.poll(), "closing is neither a failed attempt to report nor giving up");
        } finally {
            Files.deleteIfExists(dir.resolve("s"));
        }
    }

    @Test
    void aListenerMayCloseTheClientFromItsCallback() throws Exception {
        AtomicReference<ReconnectingClient> self = new AtomicReference<>();
        CompletableFuture<Boolean> interrupted = new CompletableFuture<>();
        ReconnectingClient client = ReconnectingClient.builder(transport, endpoint,
                ClientOptions.builder(ReconnectServerMain.SERVICE).noSecret().build(), (connection, frame) -> { })
                .giveUpAfterMs(60_000)
                .listener(new ReconnectingClient.Listener() {
                    @Override
                    public void attemptFailed(Exception error, long retryInMs) {
                        while (self.get() == null) {
                            Thread.onSpinWait();
                        }
                        self.get().close();
                        interrupted.complete(Thread.currentThread().isInterrupted());
                    }
                }).build();
        self.set(client);
        assertEquals(false, interrupted.get(WAIT_SECONDS, TimeUnit.SECONDS), "close() must not interrupt its caller");
        assertReconnectThreadGone();
        client.close();
    }

    /** Records what the client reports, in order. */
    private static final class Events implements ReconnectingClient.Listener {
        enum Kind { CONNECTED, DISCONNECTED, ATTEMPT_FAILED, GAVE_UP }

        static final class Event {
            final Kind kind;
            NegotiatedConnection connection;
            CloseReason reason;
            Exception error;
            long retryInMs;
            StatusException cause;

            Event(Kind kind) {
                this.kind = kind;
            }

            @Override
            public String toString() {
                return kind + (reason != null ? " " + reason : "") + (error != null ? " " + error : "")
                        + (cause != null ? " " + cause : "");
            }
        }

        private final BlockingQueue<Event> queue = new LinkedBlockingQueue<>();
        private final List<Event> seen = new ArrayList<>();

        @Override
        public void connected(NegotiatedConnection connection) {
            Event event = new Event(Kind.CONNECTED);
            event.connection = connection;
            queue.add(event);
        }

        @Override
        public void disconnected(CloseReason reason) {
            Event event = new Event(Kind.DISCONNECTED);
            event.reason = reason;
            queue.add(event);
        }

        @Override
        public void attemptFailed(Exception error, long retryInMs) {
            Event event = new Event(Kind.ATTEMPT_FAILED);
            event.error = error;
            event.retryInMs = retryInMs;
            queue.add(event);
        }

        @Override
        public void gaveUp(StatusException cause) {
            Event event = new Event(Kind.GAVE_UP);
            event.cause = cause;
            queue.add(event);
        }

        /** The next event of {@code kind}, skipping failed attempts on the way (their number depends on timing). */
        Event next(Kind kind) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
            for (;;) {
                Event event = queue.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (event == null) {
                    throw new AssertionError("no " + kind + " within " + WAIT_SECONDS + " s; seen " + seen);
                }
                synchronized (seen) {
                    seen.add(event);
                }
                if (event.kind == kind) {
                    return event;
                }
                if (event.kind != Kind.ATTEMPT_FAILED) {
                    throw new AssertionError("expected " + kind + ", got " + event + "; seen " + seen);
                }
            }
        }

        /** The next event if one comes within a second, else null; failed attempts are skipped. */
        Event poll() throws InterruptedException {
            Event event;
            do {
                event = queue.poll(1, TimeUnit.SECONDS);
            } while (event != null && event.kind == Kind.ATTEMPT_FAILED && record(event));
            return event;
        }

        private boolean record(Event event) {
            synchronized (seen) {
                seen.add(event);
            }
            return true;
        }

        /** Events of {@code kind} seen so far, counting those still queued. */
        int count(Kind kind) {
            synchronized (seen) {
                return (int) (seen.stream().filter(e -> e.kind == kind).count()
                        + queue.stream().filter(e -> e.kind == kind).count());
            }
        }

        @Override
        public String toString() {
            synchronized (seen) {
                return seen + " then " + queue;
            }
        }
    }
}
