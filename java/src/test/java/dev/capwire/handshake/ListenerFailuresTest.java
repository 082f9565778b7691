package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.Response;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.RefusedCode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A {@link HandshakeListener} or {@link ReconnectingClient.Listener} that throws: the failure reaches the
 * transport's one error handler (installed here with {@code TransportOptions.builder().errorHandler(...)}),
 * wrapped in an exception naming the listener and the callback, nothing is printed to the console, and the
 * server or client keeps working.
 */
@ExtendWith(NoLeaks.class)
class ListenerFailuresTest {
    private static final FrameListener ECHO = (connection, frame) -> {
        if (frame.type() == FrameType.REQUEST) {
            connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength());
        }
    };

    private final List<Throwable> errors = new CopyOnWriteArrayList<>();
    private final ByteArrayOutputStream console = new ByteArrayOutputStream();
    private PrintStream realErr;
    private Path dir;
    private Transport transport;
    private Endpoint endpoint;

    @BeforeEach
    void start() throws Exception {
        realErr = System.err;
        System.setErr(new PrintStream(console, true, StandardCharsets.UTF_8));
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwh");
        endpoint = Endpoint.unix(dir.resolve("s"));
        transport = Transport.create(TransportOptions.builder().errorHandler(errors::add).build());
    }

    @AfterEach
    void stop() throws Exception {
        try {
            transport.close();
            Files.deleteIfExists(dir.resolve("s"));
            Files.deleteIfExists(dir);
        } finally {
            System.setErr(realErr);
        }
        realErr.print(console.toString(StandardCharsets.UTF_8));
    }

    private static class ThrowingHandshakeListener implements HandshakeListener {
        final List<HandshakeOutcome> heard = new CopyOnWriteArrayList<>();

        @Override
        public void onHandshake(HandshakeOutcome outcome) {
            heard.add(outcome);
            throw new IllegalArgumentException("boom " + heard.size() + " in onHandshake");
        }
    }

    @Test
    void aThrowingHandshakeListenerIsReportedToTheErrorHandlerAndTheServerCarriesOn() throws Exception {
        ThrowingHandshakeListener listener = new ThrowingHandshakeListener();
        HandshakeServer.builder(transport).noSecret().service(Service.builder("echo", "1.0.0", ECHO).build())
                .listener(listener).build().listen(endpoint);

        for (int i = 1; i <= 2; i++) {
            try (NegotiatedConnection echo = HandshakeClient.connect(transport, endpoint, client("echo"), (c, f) -> { })) {
                assertEquals("ping", call(echo));
            }
        }
        // A refusal still reaches the client after the listener threw on it.
        HandshakeRefusedException refused = assertThrows(HandshakeRefusedException.class,
                () -> HandshakeClient.connect(transport, endpoint, client("nope"), (c, f) -> { }));
        assertEquals(RefusedCode.SERVICE_UNKNOWN, refused.refusedCode());

        ServerSide.await(() -> errors.size() >= 3, "three reports (have " + errors + ")");
        assertEquals(3, listener.heard.size());
        for (int i = 0; i < 3; i++) {
            Throwable reported = errors.get(i);
            assertTrue(reported.getMessage().startsWith("HandshakeListener " + ThrowingHandshakeListener.class.getName()
                    + ".onHandshake(" + listener.heard.get(i)), reported.getMessage());
            assertTrue(reported.getMessage().endsWith("threw java.lang.IllegalArgumentException: boom " + (i + 1)
                    + " in onHandshake; the server carries on"), reported.getMessage());
            assertEquals("boom " + (i + 1) + " in onHandshake", reported.getCause().getMessage());
        }
        assertTrue(listener.heard.get(2).reason().contains("no service named 'nope'"), listener.heard.toString());
        assertNothingOnTheConsole();
    }

    /**
     * A HandshakeListener that throws an Error (a failed assertion, say) is reported like an exception and the
     * server carries on: escaping the report of an accepted handshake, it skipped the service's onOpen and ended
     * the connection the handshake had just negotiated.
     */
    @Test
    void aHandshakeListenerThrowingAnErrorIsReportedAndTheConnectionServes() throws Exception {
        HandshakeServer.builder(transport).noSecret().service(Service.builder("echo", "1.0.0", ECHO).build())
                .listener(outcome -> {
                    throw new AssertionError("a listener's own assertion fails on " + outcome.result());
                }).build().listen(endpoint);
        try (NegotiatedConnection echo = HandshakeClient.connect(transport, endpoint, client("echo"), (c, f) -> { })) {
            assertEquals("ping", call(echo));
        }
        ServerSide.await(() -> !errors.isEmpty(), "the report of onHandshake");
        assertSame(AssertionError.class, errors.get(0).getCause().getClass());
        assertNothingOnTheConsole();
    }

    @Test
    void aThrowingReconnectListenerIsReportedToTheErrorHandlerAndTheClientCarriesOn() throws Exception {
        HandshakeServer.builder(transport).noSecret().service(Service.builder("echo", "1.0.0", ECHO).build())
                .build().listen(endpoint);
        ReconnectingClient.Listener listener = new ReconnectingClient.Listener() {
            @Override
            public void connected(NegotiatedConnection connection) {
                throw new IllegalArgumentException("boom in connected");
            }

            @Override
            public void disconnected(CloseReason reason) {
                throw new IllegalArgumentException("boom in disconnected");
            }
        };
        try (ReconnectingClient client = ReconnectingClient.builder(transport, endpoint, client("echo"), (c, f) -> { })
                .listener(listener).backoff(new long[] {10}, 0).build()) {
            NegotiatedConnection first = client.awaitConnected(10_000);
            assertEquals("ping", call(first));
            ServerSide.await(() -> errors.size() >= 1, "the report from connected");

            first.close(); // lost, not closed by the client: disconnected, then a new connection
            ServerSide.await(() -> client.current() != null && client.current() != first, "a new connection");
            NegotiatedConnection second = client.current();
            assertNotSame(first, second);
            assertEquals("ping", call(second));
            ServerSide.await(() -> errors.size() >= 3, "three reports (have " + errors + ")");

            String prefix = "ReconnectingClient.Listener " + listener.getClass().getName() + ".";
            List<String> messages = errors.stream().map(Throwable::getMessage).collect(Collectors.toList());
            assertEquals(List.of(
                    prefix + "connected for " + endpoint + " threw java.lang.IllegalArgumentException: boom in connected;"
                            + " the reconnecting client carries on",
                    prefix + "disconnected for " + endpoint + " threw java.lang.IllegalArgumentException: boom in"
                            + " disconnected; the reconnecting client carries on",
                    prefix + "connected for " + endpoint + " threw java.lang.IllegalArgumentException: boom in connected;"
                            + " the reconnecting client carries on"), messages);
            for (Throwable reported : errors) {
                assertSame(IllegalArgumentException.class, reported.getCause().getClass());
            }
        }
        assertNothingOnTheConsole();
    }

    /**
     * An Error from a ReconnectingClient.Listener (a failed assertion, say) on the reconnect thread is reported like
     * an exception, and the client goes on watching its connection: escaping the attempt, it skipped the watch on
     * the connection's close, so a loss was never noticed and the client held a dead connection for good.
     */
    @Test
    void aReconnectListenerThrowingAnErrorIsReportedAndTheClientStillReconnects() throws Exception {
        HandshakeServer.builder(transport).noSecret().service(Service.builder("echo", "1.0.0", ECHO).build())
                .build().listen(endpoint);
        ReconnectingClient.Listener listener = new ReconnectingClient.Listener() {
            @Override
            public void connected(NegotiatedConnection connection) {
                throw new AssertionError("a listener's own assertion fails in connected");
            }
        };
        try (ReconnectingClient client = ReconnectingClient.builder(transport, endpoint, client("echo"), (c, f) -> { })
                .listener(listener).backoff(new long[] {10}, 0).build()) {
            NegotiatedConnection first = client.awaitConnected(10_000);

            first.close(); // lost, not closed by the client: a new connection follows
            ServerSide.await(() -> client.current() != null && client.current() != first, "a new connection");
            assertEquals("ping", call(client.current()));
            ServerSide.await(() -> errors.size() >= 2, "the reports from both connected calls (have " + errors + ")");
            assertSame(AssertionError.class, errors.get(0).getCause().getClass());
        }
        assertNothingOnTheConsole();
    }

    /**
     * A service listener whose onOpen throws, called by the handshake once it sent Negotiated: reported to the error
     * handler, and the connection closed, as the transport treats a failed onOpen. (It was taken for a failed
     * Hello check: a Refused sent after the Negotiated, and nothing reported.)
     */
    @Test
    void aServiceListenerWhoseOnOpenThrowsIsReportedAndItsConnectionClosed() throws Exception {
        FrameListener failsToOpen = new FrameListener() {
            @Override
            public void onOpen(dev.capwire.transport.Connection connection) {
                throw new IllegalStateException("boom in onOpen");
            }

            @Override
            public void onFrame(dev.capwire.transport.Connection connection, dev.capwire.transport.InboundFrame frame) {
            }
        };
        HandshakeServer.builder(transport).noSecret().service(Service.builder("echo", "1.0.0", failsToOpen).build())
                .build().listen(endpoint);
        try (NegotiatedConnection echo = HandshakeClient.connect(transport, endpoint, client("echo"), (c, f) -> { })) {
            echo.connection().closeFuture().get(20, java.util.concurrent.TimeUnit.SECONDS);
        } catch (dev.capwire.transport.StatusException closedBeforeTheNegotiatedWasRead) {
            assertEquals(dev.capwire.wire.StatusCode.UNAVAILABLE, closedBeforeTheNegotiatedWasRead.code());
        }
        ServerSide.await(() -> errors.stream().anyMatch(e -> e.getCause() != null
                && "boom in onOpen".equals(e.getCause().getMessage())), "the report of onOpen (have " + errors + ")");
        assertNothingOnTheConsole();
    }

    private void assertNothingOnTheConsole() {
        String printed = console.toString(StandardCharsets.UTF_8);
        assertFalse(printed.contains("boom") || printed.contains("capwire"), "printed to System.err: " + printed);
    }

    private static ClientOptions client(String service) {
        return ClientOptions.builder(service).noSecret().build();
    }

    private static String call(NegotiatedConnection connection) {
        UnsafeBuffer payload = new UnsafeBuffer("ping".getBytes(StandardCharsets.US_ASCII));
        Response reply = connection.connection().call(2, 1, payload, 0, 4, 10_000);
        return new String(reply.payload(), StandardCharsets.US_ASCII);
    }
}
