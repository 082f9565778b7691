package dev.capwire.rpc;

import static dev.capwire.rpc.RpcTestClient.waitFor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.rpc.proto.Diagnostics;
import dev.capwire.rpc.testing.SlowRequest;
import dev.capwire.rpc.testing.StatReply;
import dev.capwire.rpc.testing.StatRequest;
import dev.capwire.rpc.testing.TailRequest;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The runtime cap's diagnostics count each call the server served or failed exactly once, whichever way it
 * ended: every kind of method, on the loop and on the executor, a bootstrap, a handler's own failure, and calls
 * a revocation answered while their handlers were still running (those handlers' later answers must not count
 * again). The server is a child JVM ({@link RpcServerMain}).
 */
class CallCountsAcrossProcessesTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwcount");

    /** How long counts must stay put once reached: a late second count of some call would show within it. */
    private static final long SETTLE_MS = 300;

    private static RpcTestClient client;

    @BeforeAll
    static void startClient() throws Exception {
        client = new RpcTestClient();
    }

    @AfterAll
    static void stopClient() throws Exception {
        client.close();
    }

    @Test
    void theRuntimeCapCountsEveryCallServedAndEveryCallFailedExactlyOnce() throws Exception {
        try (ChildJvm server = ChildJvm.start(RpcServerMain.class, "unix:" + DIR.path("count-" + System.nanoTime()));
                NegotiatedConnection connection = client.connect(server)) {
            RpcConnection peer = client.rpc.connection(connection.connection());
            ServerCounts counts = new ServerCounts(peer.runtime());
            counts.await(0, 0);

            RemoteFiles files = peer.bootstrap(RemoteFiles.class);
            assertArrayEquals(bytes("a"), files.echo(bytes("a")));
            assertArrayEquals(bytes("b"), files.echoOnLoop(bytes("b")));
            assertEquals("c", files.statAsync(StatRequest.newBuilder().setPath("c").build()).get(10, TimeUnit.SECONDS)
                    .getPath());
            assertArrayEquals(bytes("d"), files.echoOnLoopAsync(bytes("d")).get(10, TimeUnit.SECONDS));
            Answered<byte[]> view = new Answered<>();
            files.echoView(new UnsafeBuffer(bytes("e")), new ResultSink<DirectBuffer>() {
                @Override
                public void result(DirectBuffer value) {
                    byte[] copy = new byte[value.capacity()];
                    value.getBytes(0, copy); // a view, valid only until this returns
                    view.result(copy);
                }

                @Override
                public void failed(StatusException why) {
                    view.failed(why);
                }
            });
            assertArrayEquals(bytes("e"), view.get());
            List<Integer> lines = new ArrayList<>();
            files.tail(TailRequest.newBuilder().setLines(5).build(), line -> lines.add(line.getNumber()));
            assertEquals(List.of(1, 2, 3, 4, 5), lines, "a stream of five items is one call served");
            peer.runtime().ping();
            counts.await(8, 0); // bootstrap, echo, echoOnLoop, statAsync, echoOnLoopAsync, echoView, tail, ping

            assertEquals("no.such.thing", assertThrows(StatusException.class, () -> files.fail(bytes("status")))
                    .reason());
            assertEquals(StatusCode.INTERNAL, assertThrows(StatusException.class, () -> files.fail(bytes("runtime")))
                    .code());
            Answered<byte[]> missing = new Answered<>();
            files.failThrough(bytes("status"), missing);
            assertEquals("test.missing", assertThrows(StatusException.class, missing::get).reason());
            Answered<byte[]> thrown = new Answered<>();
            files.failThrough(bytes("throw"), thrown);
            assertEquals("handler.failed", assertThrows(StatusException.class, thrown::get).reason());
            assertEquals(StatusCode.NOT_FOUND, assertThrows(StatusException.class,
                    () -> peer.bootstrap(OtherCaps.Nobody.class)).code());
            assertEquals(StatusCode.PERMISSION_DENIED, assertThrows(StatusException.class,
                    () -> peer.bootstrap(OtherCaps.Secret.class)).code());
            counts.await(8, 6);

            // Three calls still running when the cap is revoked: the revocation answers each; their handlers
            // then return (or their future ends) and answer again, which must be ignored, and not counted.
            CompletableFuture<StatReply> onExecutor = files.slowAsync(slow("x"));
            Answered<StatReply> throughSink = new Answered<>();
            files.slowThrough(slow("y"), throughSink);
            CompletableFuture<byte[]> parked = files.parkOnLoop(bytes("z"));
            awaitEvents(server, "HOLDING x", "HOLDING y");
            assertArrayEquals(bytes("f"), files.echoOnLoop(bytes("f")), "calls are dispatched in order: z is parked");
            server.send("unserve");
            assertRevoked(assertThrows(ExecutionException.class, () -> onExecutor.get(10, TimeUnit.SECONDS))
                    .getCause());
            assertRevoked(assertThrows(StatusException.class, throughSink::get));
            assertRevoked(assertThrows(ExecutionException.class, () -> parked.get(10, TimeUnit.SECONDS)).getCause());
            assertEquals(List.of("CANCELLED x UNAVAILABLE revoked: unserve", "CANCELLED y UNAVAILABLE revoked: unserve",
                    "PARK ENDED z CancellationException"), awaitEvents(server, "CANCELLED x", "CANCELLED y",
                    "PARK ENDED z"), "each handler saw the revocation");
            counts.await(9, 9); // echoOnLoop "f"; the three revoked calls
        }
    }

    /** The server's event lines that start with {@code prefixes}, in that order, whatever order they came in. */
    private static List<String> awaitEvents(ChildJvm server, String... prefixes) throws Exception {
        String[] seen = new String[prefixes.length];
        for (int found = 0; found < prefixes.length;) {
            String line = server.readLine(10);
            for (int i = 0; i < prefixes.length; i++) {
                if (seen[i] == null && line.startsWith(prefixes[i])) {
                    seen[i] = line;
                    found++;
                    break;
                }
            }
        }
        return List.of(seen);
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static SlowRequest slow(String tag) {
        return SlowRequest.newBuilder().setTag(tag).setHoldMs(30_000).build();
    }

    private static void assertRevoked(Throwable failure) {
        StatusException why = (StatusException) failure;
        assertEquals(StatusCode.UNAVAILABLE, why.code(), String.valueOf(why));
        assertEquals("revoked: unserve", why.reason());
    }

    @Test
    void aCallIsCountedBeforeItsAnswerReachesTheCaller() throws Exception {
        try (ChildJvm server = ChildJvm.start(RpcServerMain.class, "unix:" + DIR.path("early-" + System.nanoTime()));
                NegotiatedConnection connection = client.connect(server)) {
            RpcConnection peer = client.rpc.connection(connection.connection());
            ServerCounts counts = new ServerCounts(peer.runtime());
            RemoteFiles files = peer.bootstrap(RemoteFiles.class);
            counts.await(1, 0);
            // On a handler thread, the answer and the count were two steps, and a question right after the
            // answer could come between them; asked at once, with no waiting, the count must already be there.
            for (int served = 2; served <= 201; served++) {
                assertArrayEquals(bytes("n"), files.echo(bytes("n")));
                assertEquals("served " + served + ", failed 0", counts.now(), "right after call " + served);
            }
        }
    }

    /**
     * The server's calls served and failed on this connection, as its runtime cap reports them, less the
     * diagnostics calls this asked before (each one served, and counted as it was answered, before the loop reads
     * the next one).
     */
    private static final class ServerCounts {
        private final RuntimeCapability runtime;
        private int asked;

        ServerCounts(RuntimeCapability runtime) {
            this.runtime = runtime;
        }

        String now() {
            Diagnostics diagnostics = runtime.diagnostics();
            String counts = "served " + (diagnostics.getCallsServed() - asked) + ", failed "
                    + diagnostics.getCallsFailed();
            asked++;
            return counts;
        }

        /** Waits until the counts are {@code served} and {@code failed}, then checks that they stay there. */
        void await(long served, long failed) throws Exception {
            String expected = "served " + served + ", failed " + failed;
            String[] seen = {null};
            try {
                waitFor(() -> expected.equals(seen[0] = now()), expected);
            } catch (AssertionError e) {
                throw new AssertionError("the server counts " + seen[0] + ", not " + expected, e);
            }
            Thread.sleep(SETTLE_MS);
            assertEquals(expected, now(), "the counts moved after reaching what was expected");
        }
    }

    /** A callback-form result, waited for. */
    private static final class Answered<T> implements ResultSink<T> {
        private final CompletableFuture<T> outcome = new CompletableFuture<>();

        @Override
        public void result(T value) {
            outcome.complete(value);
        }

        @Override
        public void failed(StatusException why) {
            outcome.completeExceptionally(why);
        }

        /** The value; the failure thrown as it came. */
        T get() throws Exception {
            try {
                return outcome.get(10, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw (Exception) e.getCause();
            }
        }
    }
}
