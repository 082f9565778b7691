package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.rpc.OtherCaps.Maker;
import dev.capwire.rpc.OtherCaps.One;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Server;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What serving means, and the rules a cap interface must follow, in one process (the wire behaviour is
 * covered across processes by {@link RpcAcrossProcessesTest}): serveAll is all or nothing, IfExists does what
 * it says, the export limit answers with its reason, and a bad interface fails when first used, naming the
 * method.
 */
class RpcServeTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpcserve");

    static {
        // JFR, the first time a recording is dumped, opens fds of its own (a user lookup's socket among them) and
        // keeps them: open them before the class's fd snapshot, so they do not read as Capwire's leaks.
        try (jdk.jfr.Recording warmUp = new jdk.jfr.Recording()) {
            warmUp.start();
            warmUp.stop();
            java.nio.file.Path file = java.nio.file.Files.createTempFile("capwire-jfr-warm-up", ".jfr");
            warmUp.dump(file);
            java.nio.file.Files.delete(file);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Capability(name = "two", version = "1.0.0")
    interface Two {
        @Method(1)
        byte[] get();
    }

    @Capability(name = "ticker", version = "1.0.0")
    interface Ticker {
        /** As many items as the argument's one byte says. */
        @Method(1)
        void ticks(byte[] count, StreamSink<byte[]> out);

        @Method(2)
        byte[] broken(byte[] nothing);
    }

    private InProcessRpc peers;
    private Rpc server;
    private Rpc client;
    private Connection connection;

    @BeforeEach
    void start() throws Exception {
        peers = new InProcessRpc(DIR, options -> options.maxCaps(3));
        server = peers.server;
        client = peers.client;
        connection = peers.connection;
    }

    @AfterEach
    void stop() throws Exception {
        peers.close();
    }

    @Test
    void serveAllIsAllOrNothing() {
        server.serve(One.class, () -> new byte[] {1}, IfExists.THROW);
        IllegalStateException taken = assertThrows(IllegalStateException.class, () -> server.serveAll(IfExists.THROW,
                Rpc.serving(Two.class, () -> new byte[] {2}, CapPolicy.anyone()),
                Rpc.serving(One.class, () -> new byte[] {3}, CapPolicy.anyone())));
        assertTrue(taken.getMessage().contains("one"), taken.getMessage());
        assertEquals(List.of("one"), server.servedNames(), "two was not served either");
        RpcConnection peer = client.connection(connection);
        assertArrayEquals(new byte[] {1}, peer.bootstrap(One.class).get(), "and one is untouched");
    }

    @Test
    void ifExistsSkipKeepsTheServedCapAndReplaceRevokesIt() throws Exception {
        ServeHandle first = server.serve(One.class, () -> new byte[] {1}, IfExists.THROW);
        ServeHandle skipped = server.serve(One.class, () -> new byte[] {2}, IfExists.SKIP);
        assertEquals(List.of(), skipped.names());
        skipped.close(); // serves nothing, so unserves nothing
        RpcConnection peer = client.connection(connection);
        One held = peer.bootstrap(One.class);
        assertArrayEquals(new byte[] {1}, held.get());
        ServeHandle second = server.serve(One.class, () -> new byte[] {3}, IfExists.REPLACE);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (((RemoteCapability) held).revocation() == null && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals("revoked: replace", ((RemoteCapability) held).revocation());
        assertArrayEquals(new byte[] {3}, peer.bootstrap(One.class).get());
        first.close(); // replaced already: closing the old handle leaves the new cap served
        assertEquals(List.of("one"), server.servedNames());
        second.close();
        assertEquals(List.of(), server.servedNames());
    }

    @Test
    void theExportLimitAnswersWithItsReasonAndBootstrappingTwiceSharesOneExport() throws Exception {
        server.serve(Maker.class, () -> {
            byte[] content = {7};
            return () -> content; // a new object each time (a lambda capturing nothing would be one object)
        }, IfExists.THROW);
        RpcConnection peer = client.connection(connection);
        Maker maker = peer.bootstrap(Maker.class);
        Maker again = peer.bootstrap(Maker.class);
        assertEquals(((RemoteCapability) maker).exportId(), ((RemoteCapability) again).exportId());
        List<One> made = new ArrayList<>();
        made.add(maker.make());
        made.add(maker.make()); // maxCaps 3: maker and two ones
        StatusException full = assertThrows(StatusException.class, maker::make);
        assertEquals(StatusCode.RESOURCE_EXHAUSTED, full.code());
        assertEquals("capwire.rpc.maxCaps", full.reason());
        ((RemoteCapability) made.remove(0)).close();
        long deadline = System.nanoTime() + 10_000_000_000L;
        One room = null;
        while (room == null && System.nanoTime() < deadline) {
            try {
                room = maker.make(); // once the release arrives there is room again
            } catch (StatusException e) {
                Thread.sleep(5);
            }
        }
        assertArrayEquals(new byte[] {7}, room.get());
        assertTrue(((RemoteCapability) room).exportId() > ((RemoteCapability) made.get(0)).exportId(),
                "a freed id is never given again");
    }

    @Capability(name = "taker", version = "1.0.0")
    interface Taker {
        @Method(1)
        byte[] take(One one);
    }

    @Test
    void aProxyForAnotherConnectionsCapCannotBePassedOn() throws Exception {
        server.serve(One.class, () -> new byte[] {1}, IfExists.THROW);
        server.serve(Taker.class, One::get, IfExists.THROW);
        One fromFirst = client.connection(connection).bootstrap(One.class);
        try (Connection second = peers.transport.connect(peers.listening.endpoint(), client.listener())) {
            Taker taker = client.connection(second).bootstrap(Taker.class);
            assertArrayEquals(new byte[] {5}, taker.take(() -> new byte[] {5}), "a local cap is exported and called back");
            StatusException refused = assertThrows(StatusException.class, () -> taker.take(fromFirst));
            assertEquals(StatusCode.INVALID_ARGUMENT, refused.code());
            assertTrue(refused.detail().contains("another connection"), refused.detail());
            assertArrayEquals(new byte[] {1}, taker.take(client.connection(second).bootstrap(One.class)),
                    "a proxy from the same connection goes back as the server's own cap");
        }
    }

    @Test
    void bootstrapsCallsAndRevocationsAreJfrEventsAndReachTheObserver() throws Exception {
        Told told = new Told();
        Rpc watched = Rpc.create(RpcOptions.builder().executor(peers.handlers).observer(told).build());
        ServeHandle one = watched.serve(One.class, () -> new byte[] {1}, IfExists.THROW);
        List<String> recorded = recordRpcEvents(watched, List.of("Bootstrap", "Call", "Revoke"), toSecond -> {
            One remote = client.connection(toSecond).bootstrap(One.class);
            for (int i = 0; i < 3; i++) {
                remote.get();
            }
            one.close();
            RpcTestClient.waitFor(() -> ((RemoteCapability) remote).revocation() != null, "the REVOKE");
            RpcTestClient.waitFor(() -> told.lines.size() == 5, "every call to be told (after its answer left)");
        });
        assertEquals(List.of("dev.capwire.rpc.Bootstrap one", "dev.capwire.rpc.Call one", "dev.capwire.rpc.Call one",
                "dev.capwire.rpc.Call one", "dev.capwire.rpc.Revoke one"), recorded);
        // Sorted: a call is told after its answer left, so the last one may be told after the revocation.
        assertEquals(List.of("bootstrap one OK", "call one.get OK", "call one.get OK", "call one.get OK",
                "revoke one revoked: unserve"), told.lines.stream().sorted().toList());
    }

    @Test
    void streamsAndHandlerFailuresAreJfrEventsAndReachTheObserver() throws Exception {
        Told told = new Told();
        Rpc watched = Rpc.create(RpcOptions.builder().executor(peers.handlers).observer(told).build());
        watched.serve(Ticker.class, new Ticker() {
            @Override
            public void ticks(byte[] count, StreamSink<byte[]> out) {
                for (int i = 0; i < count[0]; i++) {
                    out.next(new byte[] {(byte) i});
                }
            }

            @Override
            public byte[] broken(byte[] nothing) {
                throw new IllegalStateException("broken on purpose");
            }
        }, IfExists.THROW);
        List<String> recorded = recordRpcEvents(watched, List.of("StreamStart", "Stream", "Error"), toSecond -> {
            Ticker ticker = client.connection(toSecond).bootstrap(Ticker.class);
            List<Byte> items = new ArrayList<>();
            ticker.ticks(new byte[] {3}, item -> items.add(item[0]));
            assertEquals(List.of((byte) 0, (byte) 1, (byte) 2), items);
            assertEquals(StatusCode.INTERNAL, assertThrows(StatusException.class, () -> ticker.broken(new byte[0]))
                    .code());
            // Six: the bootstrap, the stream's start, end and call, the failure and its call. The stream's end and
            // call are told after its answer left.
            RpcTestClient.waitFor(() -> told.lines.size() == 6, "every event to be told");
        });
        assertEquals(List.of("dev.capwire.rpc.Error ticker java.lang.IllegalStateException",
                "dev.capwire.rpc.Stream ticker OK 3", "dev.capwire.rpc.StreamStart ticker"), recorded);
        assertEquals(List.of("bootstrap ticker OK", "call ticker.broken INTERNAL", "call ticker.ticks OK",
                "end ticker.ticks OK 3", "error broken on purpose", "start ticker.ticks"),
                told.lines.stream().sorted().toList());
        assertTrue(told.lines.indexOf("start ticker.ticks") < told.lines.indexOf("end ticker.ticks OK 3"));
    }

    /** Every event an {@link RpcObserver} is told, one line each, in the order told. */
    private static final class Told implements RpcObserver {
        final List<String> lines = new java.util.concurrent.CopyOnWriteArrayList<>();

        @Override
        public void bootstrapped(long connectionId, String capName, StatusCode status) {
            lines.add("bootstrap " + capName + " " + status);
        }

        @Override
        public void served(long connectionId, String capName, String methodName, StatusCode status, long nanos) {
            // The duration, from the call's arrival to its answer: never 0 (then the line says so).
            lines.add("call " + capName + "." + methodName + " " + status + (nanos > 0 ? "" : " untimed"));
        }

        @Override
        public void streamStarted(long connectionId, String capName, String methodName) {
            lines.add("start " + capName + "." + methodName);
        }

        @Override
        public void streamEnded(long connectionId, String capName, String methodName, StatusCode status, long items) {
            lines.add("end " + capName + "." + methodName + " " + status + " " + items);
        }

        @Override
        public void revoked(long connectionId, String capName, String reason) {
            lines.add("revoke " + capName + " " + reason);
        }

        @Override
        public void error(long connectionId, String what, Throwable cause) {
            lines.add("error " + cause.getMessage());
        }
    }

    /** What a test does with a connection to the server {@code recordRpcEvents} starts. */
    private interface WithConnection {
        void run(Connection toServer) throws Exception;
    }

    /**
     * Runs {@code body} with a connection to {@code watched} under a JFR recording of the RPC events {@code names};
     * returns the events of those names it recorded, one line each (name, cap, and the fields that say how it
     * went), sorted.
     */
    private List<String> recordRpcEvents(Rpc watched, List<String> names, WithConnection body) throws Exception {
        // Not Files.createTempFile: its first use opens a socket of the JDK's for good (a user lookup), which the
        // class's fd check would report as leaked.
        java.nio.file.Path dump = DIR.path("rpc-" + System.nanoTime() + ".jfr");
        List<String> recorded = new ArrayList<>();
        try (jdk.jfr.Recording recording = new jdk.jfr.Recording();
                Server second = peers.transport.listen(DIR.endpoint("jfr-" + System.nanoTime()), watched.listener());
                Connection toSecond = peers.transport.connect(second.endpoint(), client.listener())) {
            names.forEach(name -> recording.enable("dev.capwire.rpc." + name));
            recording.start();
            body.run(toSecond);
            recording.stop();
            recording.dump(dump);
            for (jdk.jfr.consumer.RecordedEvent event : jdk.jfr.consumer.RecordingFile.readAllEvents(dump)) {
                String name = event.getEventType().getName();
                if (!names.contains(name.substring("dev.capwire.rpc.".length()))) {
                    continue; // another recording's settings may turn on more
                }
                recorded.add(name + " " + event.getString("capName") + (name.endsWith(".Error")
                        ? " " + event.getString("exceptionClass") : name.endsWith(".Stream")
                        ? " " + event.getString("status") + " " + event.getLong("items") : ""));
            }
        } finally {
            java.nio.file.Files.deleteIfExists(dump);
        }
        return recorded.stream().sorted().toList();
    }

    @Test
    void aDeadlineScopeNeverExtendsItsParentAndDetachedWorkInheritsNothing() throws Exception {
        CallContext.withTimeout(java.time.Duration.ofMillis(200), () -> {
            CallContext outer = CallContext.current();
            CallContext.withTimeout(java.time.Duration.ofSeconds(60), () -> {
                assertTrue(CallContext.current().timeLeft().toMillis() <= 200, "the inner scope keeps the outer deadline");
                assertEquals(outer, CallContext.current().parent());
                return null;
            });
            assertEquals(null, CallContext.detached(CallContext::current), "detached work has no context");
            assertEquals(outer, CallContext.current(), "and the context is back afterwards");
            return null;
        });
        assertEquals(null, CallContext.current());
    }

    @Capability(name = "bad", version = "1.0.0")
    interface NoId {
        byte[] get();
    }

    @Capability(name = "bad", version = "1.0.0")
    interface SameId {
        @Method(1)
        byte[] a();

        @Method(1)
        byte[] b();
    }

    @Capability(name = "bad", version = "1.0.0")
    interface TwoArguments {
        @Method(1)
        byte[] get(byte[] a, byte[] b);
    }

    @Capability(name = "bad", version = "1.0.0")
    interface UnsupportedType {
        @Method(1)
        StringBuilder get();
    }

    @Capability(name = "bad", version = "one")
    interface BadVersion {
        @Method(1)
        byte[] get();
    }

    interface NotACapability {
        @Method(1)
        byte[] get();
    }

    @Test
    void aBadInterfaceFailsWhenFirstUsedNamingTheMethod() {
        assertTrue(message(NoId.class).contains("NoId.get has no @Method"));
        assertTrue(message(SameId.class).contains("both have @Method(1)"));
        assertTrue(message(TwoArguments.class).contains("takes 2 arguments"));
        assertTrue(message(UnsupportedType.class).contains("java.lang.StringBuilder is not a type a cap method can carry"));
        assertTrue(message(BadVersion.class).contains("is not MAJOR.MINOR.PATCH"));
        assertTrue(message(NotACapability.class).contains("not an interface annotated @Capability"));
    }

    private String message(Class<?> type) {
        RpcConnection peer = client.connection(connection);
        return assertThrows(IllegalArgumentException.class, () -> peer.bootstrap(type)).getMessage();
    }
}
