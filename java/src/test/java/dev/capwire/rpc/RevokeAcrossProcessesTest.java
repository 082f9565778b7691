package dev.capwire.rpc;

import static dev.capwire.rpc.RpcTestClient.waitFor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.rpc.testing.SlowRequest;
import dev.capwire.rpc.testing.StatReply;
import dev.capwire.rpc.testing.StatRequest;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A revoked cap fails every call in flight on it at once, in every form a call can take (blocking, future,
 * callback), exactly once, with UNAVAILABLE and the exporter's reason; and the connection carries on. Two peers
 * in a child JVM: Capwire's own server ({@link RpcServerMain}), whose handlers block, and a raw protocol peer
 * ({@link RevokingPeerMain}) that never answers the calls it revokes, so only this side's handling of the REVOKE
 * can end them.
 */
class RevokeAcrossProcessesTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrevoke");

    /** The default deadline of a call is 30 s: a call that ends well within it was not ended by its deadline. */
    private static final long AT_ONCE_SECONDS = 10;

    private static RpcTestClient client;

    @Capability(name = "echo", version = "1.0.0")
    interface Echo {
        @Method(1)
        byte[] echo(byte[] bytes);
    }

    @BeforeAll
    static void startClient() throws Exception {
        client = new RpcTestClient();
    }

    @AfterAll
    static void stopClient() throws Exception {
        client.close();
    }

    @Test
    void callsOnACapThePeerRevokesFailAtOnceInEveryFormEvenWhenThePeerNeverAnswersThem() throws Exception {
        try (ChildJvm child = ChildJvm.start(RevokingPeerMain.class, "unix:" + DIR.path("raw-" + System.nanoTime()));
                NegotiatedConnection connection = client.connect(child)) {
            RpcConnection peer = client.rpc.connection(connection.connection());
            RemoteFiles files = peer.bootstrap(RemoteFiles.class);
            Echo echo = peer.bootstrap(Echo.class);
            assertArrayEquals(new byte[] {1}, echo.echo(new byte[] {1}));
            Outcomes<DirectBuffer> views = new Outcomes<>();
            Outcomes<byte[]> bytes = new Outcomes<>();
            List<CompletableFuture<StatReply>> futures = new ArrayList<>();
            UnsafeBuffer argument = new UnsafeBuffer(new byte[] {7});
            int each = 3;
            for (int i = 0; i < each; i++) {
                files.echoView(argument, views); // one sink for all three: one reply handler for all
                files.failThrough(new byte[] {2}, bytes); // a second sink: a second handler
                futures.add(files.statAsync(StatRequest.newBuilder().setPath("p" + i).build()));
            }
            Future<byte[]> blocking = client.handlers.submit(() -> files.echo(new byte[] {3}));
            int calls = 3 * each + 1;
            awaitReport(child, "held=" + calls + " ");
            assertEquals(calls, peer.questionCount());

            child.send("revoke revoked: unserve");
            child.expect("REVOKED", 10);
            for (CompletableFuture<StatReply> future : futures) {
                assertRevoked("revoked: unserve", assertThrows(ExecutionException.class,
                        () -> future.get(AT_ONCE_SECONDS, TimeUnit.SECONDS)).getCause());
            }
            assertRevoked("revoked: unserve", assertThrows(ExecutionException.class,
                    () -> blocking.get(AT_ONCE_SECONDS, TimeUnit.SECONDS)).getCause());
            views.awaitFailures(each, "revoked: unserve");
            bytes.awaitFailures(each, "revoked: unserve");
            // The importer cancels what it failed, and gives back its one reference to the cap.
            awaitReport(child, "cancels=" + calls + " releases=2x1;");
            waitFor(() -> peer.questionCount() == 0, "every call to leave the in-flight count");
            Thread.sleep(200); // room for a second outcome, which must not come
            assertEquals(each, views.count(), "each callback-form call ended exactly once");
            assertEquals(each, bytes.count(), "each callback-form call ended exactly once");
            assertEquals(0, peer.questionCount(), "counted out once each, not twice");

            assertEquals("revoked: unserve", ((RemoteCapability) files).revocation());
            assertRevoked("revoked: unserve", assertThrows(StatusException.class, () -> files.echo(new byte[1])));
            files.echoView(argument, views);
            views.awaitFailures(each + 1, "revoked: unserve"); // at once, on this thread: no frame sent
            assertArrayEquals(new byte[] {5}, echo.echo(new byte[] {5}), "the other cap is still served");
            awaitReport(child, "held=" + calls + " ");
        }
    }

    @Test
    void callsBlockedInTheServersHandlersFailAtOnceWhenItReplacesTheCap() throws Exception {
        try (ChildJvm server = ChildJvm.start(RpcServerMain.class, "unix:" + DIR.path("rpc-" + System.nanoTime()));
                NegotiatedConnection connection = client.connect(server)) {
            RpcConnection peer = client.rpc.connection(connection.connection());
            RemoteFiles files = peer.bootstrap(RemoteFiles.class);
            Outcomes<StatReply> sink = new Outcomes<>();
            List<CompletableFuture<StatReply>> futures = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                files.slowThrough(SlowRequest.newBuilder().setHoldMs(30_000).setTag("sink" + i).build(), sink);
                server.expect("HOLDING sink" + i, 10);
                futures.add(files.slowAsync(SlowRequest.newBuilder().setHoldMs(30_000).setTag("future" + i)
                        .build()));
                server.expect("HOLDING future" + i, 10);
            }

            server.send("replace");
            for (CompletableFuture<StatReply> future : futures) {
                assertRevoked("revoked: replace", assertThrows(ExecutionException.class,
                        () -> future.get(AT_ONCE_SECONDS, TimeUnit.SECONDS)).getCause());
            }
            sink.awaitFailures(2, "revoked: replace");
            waitFor(() -> ((RemoteCapability) files).revocation() != null, "the REVOKE");
            waitFor(() -> peer.questionCount() == 0, "every call to leave the in-flight count");
            Thread.sleep(200); // the handlers return once cancelled, and answer their sinks: ignored
            assertEquals(2, sink.count(), "each callback-form call ended exactly once");
            assertEquals(0, peer.questionCount());

            RemoteFiles fresh = peer.bootstrap(RemoteFiles.class);
            assertArrayEquals(new byte[] {9}, fresh.echo(new byte[] {9}), "the connection serves the new cap");
            peer.runtime().ping(); // and the runtime cap answers
        }
    }

    /**
     * A call that reached the server and waits for a handler thread when its cap is revoked ends with the
     * revocation, and its handler never runs: the revocation wins over a call it caught between its dispatch and
     * its handler. (Before, the handler ran once a thread was free, after the cap was gone.) The server's handler
     * executor is a gate the test opens only after the revocation, so the order is fixed, not a race.
     */
    @Test
    void callsWaitingForAHandlerWhenTheCapIsRevokedNeverRunTheirHandler() throws Exception {
        for (String how : List.of("unserve", "replace")) {
            try (ChildJvm server = ChildJvm.start(GatedServerMain.class, "unix:" + DIR.path("gated-" + System.nanoTime()));
                    NegotiatedConnection connection = client.connect(server)) {
                RpcConnection peer = client.rpc.connection(connection.connection());
                GatedServerMain.Gated gated = peer.bootstrap(GatedServerMain.Gated.class);
                List<CompletableFuture<byte[]>> calls = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    calls.add(gated.echo(new byte[] {(byte) i}));
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(AT_ONCE_SECONDS);
                String held;
                do {
                    server.send("held");
                    held = server.expect("HELD", 10);
                } while (!held.equals("3") && System.nanoTime() < deadline && sleep());
                assertEquals("3", held, "the three calls wait at the server's gate");

                server.send(how);
                server.expect(how.equals("unserve") ? "UNSERVED" : "REPLACED", 10);
                for (CompletableFuture<byte[]> call : calls) {
                    assertRevoked("revoked: " + how, assertThrows(ExecutionException.class,
                            () -> call.get(AT_ONCE_SECONDS, TimeUnit.SECONDS)).getCause());
                }
                server.send("release");
                assertEquals("3", server.expect("RELEASED", 10));
                server.send("ran");
                assertEquals("0", server.expect("RAN", 10), "no handler ran for a call its revocation ended");
                waitFor(() -> peer.questionCount() == 0, "every call to leave the in-flight count");
            }
        }
    }

    private static void assertRevoked(String reason, Throwable failure) {
        assertTrue(failure instanceof StatusException, String.valueOf(failure));
        StatusException why = (StatusException) failure;
        assertEquals(StatusCode.UNAVAILABLE, why.code(), why.toString());
        assertEquals(reason, why.reason(), why.toString());
    }

    /** Asks the raw peer for its report until it contains {@code expected}. */
    private static void awaitReport(ChildJvm child, String expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(AT_ONCE_SECONDS);
        String report;
        do {
            child.send("report");
            report = child.expect("REPORT", 10) + " ";
        } while (!report.contains(expected) && System.nanoTime() < deadline && sleep());
        assertTrue(report.contains(expected), "the peer's report '" + report + "' has '" + expected + "'");
    }

    private static boolean sleep() throws InterruptedException {
        Thread.sleep(10);
        return true;
    }

    /** Every outcome a {@link ResultSink} hears, in order. */
    private static final class Outcomes<T> implements ResultSink<T> {
        private final BlockingQueue<Object> heard = new LinkedBlockingQueue<>();
        private final List<Object> taken = new ArrayList<>();

        @Override
        public void result(T value) {
            heard.add("a result");
        }

        @Override
        public void failed(StatusException why) {
            heard.add(why);
        }

        /** Waits until {@code n} outcomes came in all, each a failure with {@code reason}. */
        void awaitFailures(int n, String reason) throws InterruptedException {
            while (taken.size() < n) {
                Object next = heard.poll(AT_ONCE_SECONDS, TimeUnit.SECONDS);
                assertTrue(next != null, "outcome " + (taken.size() + 1) + " of " + n + " within "
                        + AT_ONCE_SECONDS + " s");
                assertTrue(next instanceof StatusException, String.valueOf(next));
                assertRevoked(reason, (Throwable) next);
                taken.add(next);
            }
        }

        int count() {
            return taken.size() + heard.size();
        }
    }
}
