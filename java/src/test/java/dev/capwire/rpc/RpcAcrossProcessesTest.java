package dev.capwire.rpc;

import static dev.capwire.rpc.RpcTestClient.sleepQuietly;
import static dev.capwire.rpc.RpcTestClient.waitFor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.rpc.proto.Diagnostics;
import dev.capwire.rpc.proto.ServedCaps;
import dev.capwire.rpc.testing.Line;
import dev.capwire.rpc.testing.OpenRequest;
import dev.capwire.rpc.testing.SlowRequest;
import dev.capwire.rpc.testing.StatReply;
import dev.capwire.rpc.testing.StatRequest;
import dev.capwire.rpc.testing.TailRequest;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.wire.StatusCode;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The RPC layer between two processes: the server is a child JVM ({@link RpcServerMain}); this JVM calls it
 * through typed proxies. Every test starts a fresh server, since several change what it serves.
 */
class RpcAcrossProcessesTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpc");

    private static RpcTestClient client;
    private static Transport transport;
    private static ExecutorService handlers;
    private static Rpc rpc;
    private ChildJvm server;
    private NegotiatedConnection connection;
    private RpcConnection peer;

    @BeforeAll
    static void startClient() throws Exception {
        client = new RpcTestClient();
        transport = client.transport;
        handlers = client.handlers;
        rpc = client.rpc;
    }

    @AfterAll
    static void stopClient() throws Exception {
        client.close();
    }

    @BeforeEach
    void startServer() throws Exception {
        server = ChildJvm.start(RpcServerMain.class, "unix:" + DIR.path("rpc-" + System.nanoTime()));
        connection = client.connect(server);
        peer = rpc.connection(connection.connection());
    }

    @AfterEach
    void stopServer() throws Exception {
        try {
            if (connection != null) {
                connection.close(); // null when the handshake failed: the child must go all the same
            }
        } finally {
            server.close();
        }
        waitFor(() -> rpc.connectionCount() == 0, "the connection's RPC state to go");
    }

    private static long myUid() throws Exception {
        return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
    }

    @Test
    void aUnaryCallCarriesProtobufBothWaysAndTheHandlerSeesTheKernelVerifiedCaller() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        StatReply reply = files.stat(StatRequest.newBuilder().setPath("/etc/hosts").build());
        assertEquals("/etc/hosts", reply.getPath());
        assertEquals(ProcessHandle.current().pid(), reply.getCallerPid(), "the pid the kernel gave the server");
        assertEquals(myUid(), reply.getCallerUid());
        String[] kernel = System.getProperty("os.version").split("[.-]");
        boolean hasPeerPidfd = Integer.parseInt(kernel[0]) > 6 || Integer.parseInt(kernel[0]) == 6
                && Integer.parseInt(kernel[1]) >= 5;
        assertEquals(hasPeerPidfd ? ProcessHandle.current().pid() : -1, reply.getPidfdPid(),
                "the handler's pidfd names this process (SO_PEERPIDFD, Linux 6.5+)");
        assertTrue(reply.getTimeLeftMs() > 0, "a call without a deadline of its own gets capwire.requestTimeoutMs");
        StatReply async = files.statAsync(StatRequest.newBuilder().setPath("x").build()).get(10, TimeUnit.SECONDS);
        assertEquals(1, async.getSize());
        assertArrayEquals(new byte[] {1, 2, 3}, files.echo(new byte[] {1, 2, 3}));
        assertArrayEquals(new byte[] {4}, files.echoOnLoop(new byte[] {4}), "a non-blocking method runs on the loop");
        ((RemoteCapability) files).close();
    }

    @Test
    void aReturnedCapIsAProxyAndClosingItReleasesTheServersExport() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        assertEquals(1, peer.importCount());
        server.send("exports");
        assertEquals("1", server.expect("EXPORTS", 10), "the bootstrapped files cap");
        try (Reader reader = files.open(OpenRequest.newBuilder().setContent(ByteString.copyFromUtf8("hi")).build())) {
            assertArrayEquals("hi".getBytes(StandardCharsets.UTF_8), reader.read());
            assertEquals(2, peer.importCount());
            server.send("exports");
            assertEquals("2", server.expect("EXPORTS", 10));
        }
        assertEquals(1, peer.importCount(), "closing the proxy released it");
        waitForServerExports(1);
        List<Reader> three = files.openAll(OpenRequest.newBuilder().setContent(ByteString.copyFromUtf8("abcdef"))
                .build());
        assertEquals(List.of("ab", "cd", "ef"), List.of(text(three.get(0).read()), text(three.get(1).read()),
                text(three.get(2).read())));
        Map<String, Reader> named = files.openNamed(OpenRequest.getDefaultInstance());
        assertEquals(List.of("a", "b"), new ArrayList<>(named.keySet()));
        assertEquals("B", text(named.get("b").read()));
        assertEquals(6, peer.importCount());
        waitForServerExports(6);
        for (Reader reader : three) {
            reader.close();
        }
        named.values().forEach(Reader::close);
        ((RemoteCapability) files).close();
        assertEquals(0, peer.importCount());
        waitForServerExports(0);
        StatusException closed = assertThrows(StatusException.class, () -> files.echo(new byte[1]));
        assertEquals(StatusCode.UNAVAILABLE, closed.code());
        assertEquals("proxy.closed", closed.reason());
    }

    @Test
    void everyExportAndImportIsFreedWhenTheConnectionCloses() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        Reader reader = files.open(OpenRequest.getDefaultInstance());
        files.openAll(OpenRequest.newBuilder().setContent(ByteString.copyFromUtf8("abc")).build());
        assertEquals(5, peer.importCount());
        waitForServerExports(5);
        connection.close();
        waitFor(peer::isClosed, "the close");
        assertEquals(0, peer.importCount());
        assertEquals(0, peer.exportCount());
        waitForServerExports(0);
        StatusException after = assertThrows(StatusException.class, reader::read);
        assertEquals(StatusCode.UNAVAILABLE, after.code());
    }

    private void waitForServerExports(int expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        String seen;
        do {
            server.send("exports");
            seen = server.expect("EXPORTS", 10);
        } while (!seen.equals(String.valueOf(expected)) && System.nanoTime() < deadline && sleep());
        assertEquals(String.valueOf(expected), seen, "the server's exports");
    }

    private static boolean sleep() throws InterruptedException {
        Thread.sleep(10);
        return true;
    }

    private static String text(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    @Test
    void anFdTravelsAsAResultAndAsAnArgument() throws Exception {
        FdThroughMethods.check(peer.bootstrap(RemoteFiles.class));
    }

    @Test
    void aCapPassedAsAnArgumentIsCalledBack() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        Reader mine = new LocalFiles.BytesReader("from the client".getBytes(StandardCharsets.UTF_8));
        assertEquals("from the client", text(files.readFrom(mine)));
        waitFor(() -> peer.exportCount() == 0, "the server to release the client's reader");
        Reader theirs = files.open(OpenRequest.newBuilder().setContent(ByteString.copyFromUtf8("round trip")).build());
        assertEquals("round trip", text(files.readFrom(theirs)), "the server's own cap, passed back to it");
        theirs.close();
    }

    @Test
    void aStreamDeliversEveryItemInOrderUnderCreditAndEndsWithItsStatus() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        List<Integer> numbers = new ArrayList<>();
        files.tail(TailRequest.newBuilder().setLines(1000).build(), line -> numbers.add(line.getNumber()));
        assertEquals(1000, numbers.size());
        for (int i = 0; i < 1000; i++) {
            assertEquals(i + 1, numbers.get(i));
        }
        assertEquals("files.tail", server.expect("STREAM-START", 10), "the observer saw it start");
        assertEquals("1000 OK", server.expect("STREAM-END", 10));
        assertEquals(0, peer.openStreams());
    }

    /** The server's JFR recording, Mission Control's view: a bootstrap, calls, a stream's start and end, an error. */
    @Test
    void theServersCallsStreamsAndErrorsAreJfrEvents() throws Exception {
        server.send("jfr-start");
        server.expect("JFR-STARTED", 10);
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        files.tail(TailRequest.newBuilder().setLines(3).build(), line -> { });
        assertThrows(StatusException.class, () -> files.fail("runtime".getBytes()));
        assertArrayEquals(new byte[] {1}, files.echo(new byte[] {1}));
        server.expect("STREAM-END", 10); // told after the stream's answer left, like its JFR event
        server.send("jfr-stop");
        Map<String, Integer> counts = new java.util.HashMap<>();
        for (String pair : server.expect("JFR", 10).split(" ")) {
            counts.put(pair.substring("dev.capwire.rpc.".length(), pair.indexOf('=')),
                    Integer.parseInt(pair.substring(pair.indexOf('=') + 1)));
        }
        assertEquals(1, counts.get("Bootstrap"), counts.toString());
        assertEquals(1, counts.get("StreamStart"), counts.toString());
        assertEquals(1, counts.get("Stream"), counts.toString());
        assertEquals(1, counts.get("Error"), counts.toString());
        // tail and fail are in by now; echo's, told after its answer left, may be too.
        assertTrue(counts.get("Call") >= 2, counts.toString());
    }

    @Test
    void aSlowConsumerHoldsTheProducerAtItsCreditAndCancellingStopsIt() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        List<Line> seen = new ArrayList<>();
        RuntimeException stop = new IllegalStateException("enough");
        RuntimeException thrown = assertThrows(RuntimeException.class, () -> files.tail(TailRequest.newBuilder()
                .setLines(0).build(), line -> {
                    seen.add(line);
                    if (seen.size() == 1) {
                        // Credit is 32 items: the producer, endless, must be waiting for more by now.
                        sleepQuietly(300);
                    }
                    if (seen.size() == 40) {
                        throw stop;
                    }
                }));
        assertEquals(stop, thrown, "the consumer's own exception comes back");
        assertEquals(40, seen.size());
        String stopped = server.expect("STREAM-STOPPED", 10);
        assertTrue(stopped.endsWith("CANCELLED call.cancelled"), stopped);
        int produced = Integer.parseInt(stopped.split(" ")[0]);
        assertTrue(produced <= 40 + 32, "the producer never ran more than its credit ahead: " + produced);
        assertEquals(1, peer.importCount(), "the connection goes on");
        assertArrayEquals(new byte[] {7}, files.echo(new byte[] {7}));
    }

    @Test
    void theDeadlineTravelsWithTheCallAndReachesTheHandler() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        StatusException late = assertThrows(StatusException.class, () -> CallContext.withTimeout(
                Duration.ofMillis(300), () -> files.slow(SlowRequest.newBuilder().setHoldMs(10_000).setTag("d")
                        .build())));
        assertEquals(StatusCode.DEADLINE_EXCEEDED, late.code());
        String holding = server.expect("HOLDING d", 10);
        long left = Long.parseLong(holding);
        assertTrue(left > 0 && left <= 300, "the handler saw at most the caller's 300 ms: " + left);
        assertEquals("CANCELLED CANCELLED call.cancelled", "CANCELLED " + server.expect("CANCELLED d", 10),
                "the caller's CANCEL reached the handler");
        StatReply stat = CallContext.withTimeout(Duration.ofSeconds(5), () -> files.stat(StatRequest.getDefaultInstance()));
        assertTrue(stat.getTimeLeftMs() <= 5000 && stat.getTimeLeftMs() > 0, String.valueOf(stat.getTimeLeftMs()));
    }

    @Test
    void anInterruptedBlockingCallEndsCancelledKeepsTheFlagAndCancelsTheHandlersCall() throws Exception {
        // A blocking call yields a while before it blocks (it waits on a loop thread): an interrupt that comes
        // before the wait, and one that comes while it is blocked, both end the call, and the peer hears CANCEL.
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        Thread.currentThread().interrupt();
        try {
            StatusException early = assertThrows(StatusException.class, () -> files.slow(SlowRequest.newBuilder()
                    .setHoldMs(10_000).setTag("i1").build()));
            assertEquals(StatusCode.CANCELLED, early.code());
            assertEquals("call.interrupted", early.reason());
            assertTrue(Thread.currentThread().isInterrupted(), "the interrupt is kept for the caller");
        } finally {
            Thread.interrupted();
        }
        assertEquals("CANCELLED call.cancelled", server.expect("CANCELLED i1", 10));

        Thread caller = Thread.currentThread();
        CompletableFuture<Void> interrupter = CompletableFuture.runAsync(() -> {
            try {
                server.expect("HOLDING i2", 10); // the handler runs: the caller is blocked by now
            } catch (Exception e) {
                throw new IllegalStateException(e);
            } finally {
                caller.interrupt();
            }
        });
        try {
            StatusException late = assertThrows(StatusException.class, () -> files.slow(SlowRequest.newBuilder()
                    .setHoldMs(10_000).setTag("i2").build()));
            assertEquals(StatusCode.CANCELLED, late.code());
            assertEquals("call.interrupted", late.reason());
        } finally {
            interrupter.join();
            Thread.interrupted();
        }
        assertEquals("CANCELLED call.cancelled", server.expect("CANCELLED i2", 10));
        assertEquals(0, peer.questionCount());
        assertArrayEquals(new byte[] {8}, files.echo(new byte[] {8}));
    }

    @Test
    void cancellingTheFutureCancelsTheHandlersCall() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        CompletableFuture<StatReply> reply = files.slowAsync(SlowRequest.newBuilder().setHoldMs(10_000).setTag("c")
                .build());
        server.expect("HOLDING c", 10);
        assertTrue(reply.cancel(true));
        assertEquals("CANCELLED call.cancelled", server.expect("CANCELLED c", 10));
        waitFor(() -> peer.questionCount() == 0, "the question to go");
    }

    @Test
    void unservingRevokesTheCapFailingPendingCallsAtOnceAndLaterOnesWithoutARoundTrip() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        CompletableFuture<StatReply> pending = files.slowAsync(SlowRequest.newBuilder().setHoldMs(30_000).setTag("r")
                .build());
        server.expect("HOLDING r", 10);
        server.send("unserve");
        ExecutionException failed = assertThrows(ExecutionException.class, () -> pending.get(10, TimeUnit.SECONDS));
        StatusException why = (StatusException) failed.getCause();
        assertEquals(StatusCode.UNAVAILABLE, why.code());
        assertEquals("revoked: unserve", why.reason());
        assertEquals("UNAVAILABLE revoked: unserve", server.expect("CANCELLED r", 10), "the handler saw it too");
        // The running call's answer comes first; the REVOKE right behind it.
        waitFor(() -> ((RemoteCapability) files).revocation() != null, "the REVOKE");
        assertEquals("revoked: unserve", ((RemoteCapability) files).revocation());
        StatusException later = assertThrows(StatusException.class, () -> files.echo(new byte[1]));
        assertEquals("revoked: unserve", later.reason());
        waitFor(() -> peer.importCount() == 0, "the revoked import to be released");
        waitForServerExports(0);
        StatusException gone = assertThrows(StatusException.class, () -> peer.bootstrap(RemoteFiles.class));
        assertEquals(StatusCode.NOT_FOUND, gone.code());
    }

    /**
     * A non-blocking call whose handler returned on the loop with its future still open is still running: an
     * unserve must find and fail it like a call on a handler thread, and its handler must see the cancellation.
     */
    @Test
    void unservingFailsANonBlockingCallWhoseFutureIsStillOpen() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        CompletableFuture<byte[]> parked = files.parkOnLoop(bytes("u"));
        // Calls on one connection are dispatched in order: once this one is answered, the parked one has run.
        assertArrayEquals(bytes("after"), files.echoOnLoop(bytes("after")));
        assertTrue(!parked.isDone(), "the parked call was answered: " + parked);
        server.send("unserve");
        ExecutionException failed = assertThrows(ExecutionException.class, () -> parked.get(10, TimeUnit.SECONDS));
        StatusException why = (StatusException) failed.getCause();
        assertEquals(StatusCode.UNAVAILABLE, why.code());
        assertEquals("revoked: unserve", why.reason());
        assertEquals("CancellationException", server.expect("PARK ENDED u", 10), "the handler saw it too");
        waitForServerExports(0);
    }

    @Test
    void replacingRevokesTheOldInstanceAndBootstrapFindsTheNewOne() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        server.send("replace");
        server.expect("REPLACED", 10);
        waitFor(() -> ((RemoteCapability) files).revocation() != null, "the REVOKE");
        assertEquals("revoked: replace", ((RemoteCapability) files).revocation());
        RemoteFiles fresh = peer.bootstrap(RemoteFiles.class);
        assertArrayEquals(new byte[] {9}, fresh.echo(new byte[] {9}));
    }

    @Test
    void bootstrapChecksNameVersionAndPolicy() throws Exception {
        StatusException unknown = assertThrows(StatusException.class, () -> peer.bootstrap(OtherCaps.Nobody.class));
        assertEquals(StatusCode.NOT_FOUND, unknown.code());
        assertEquals("cap.unknown", unknown.reason());
        StatusException newer = assertThrows(StatusException.class, () -> peer.bootstrap(OtherCaps.FilesV2.class));
        assertEquals(StatusCode.FAILED_PRECONDITION, newer.code());
        assertEquals("cap.version", newer.reason());
        assertTrue(newer.detail().contains("1.2.0"), newer.detail());
        StatusException newerMinor = assertThrows(StatusException.class,
                () -> peer.bootstrap(OtherCaps.FilesV13.class));
        assertEquals(StatusCode.FAILED_PRECONDITION, newerMinor.code(), "the same major, but older than asked");
        assertEquals("cap.version", newerMinor.reason());
        assertTrue(newerMinor.detail().contains("1.2.0"), newerMinor.detail());
        OtherCaps.FilesV11 older = peer.bootstrap(OtherCaps.FilesV11.class);
        assertEquals("p", older.stat(StatRequest.newBuilder().setPath("p").build()).getPath(),
                "a client built against 1.1.0 uses the 1.2.0 cap");
        ((RemoteCapability) older).close();
        StatusException denied = assertThrows(StatusException.class, () -> peer.bootstrap(OtherCaps.Secret.class));
        assertEquals(StatusCode.PERMISSION_DENIED, denied.code());
        assertEquals("cap.policy", denied.reason());
        assertTrue(denied.detail().contains("uid " + myUid() + " may not use this cap"), denied.detail());
        OtherCaps.Mine mine = peer.bootstrap(OtherCaps.Mine.class);
        assertArrayEquals(new byte[] {2}, mine.get(), "the same uid policy admits the uid it names");
        ((RemoteCapability) mine).close();
        StatusException broken = assertThrows(StatusException.class, () -> peer.bootstrap(OtherCaps.Guarded.class));
        assertEquals(StatusCode.PERMISSION_DENIED, broken.code(), "a policy that throws refuses: fail closed");
        assertEquals("cap.policy", broken.reason());
        waitFor(() -> peer.importCount() == 0, "the admitted cap's release");
    }

    /**
     * What serveAll's all-or-nothing and IfExists.SKIP mean to a peer: a cap in a refused serveAll cannot be
     * bootstrapped, and a SKIP leaves the served cap, and the peer's proxy of it, as they were.
     */
    @Test
    void aRefusedServeAllServesNothingAndASkipRevokesNothing() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        server.send("serveall-conflicting");
        assertEquals("refused", server.expect("SERVEALL", 10));
        assertEquals(StatusCode.NOT_FOUND, assertThrows(StatusException.class,
                () -> peer.bootstrap(OtherCaps.Nobody.class)).code(), "the new cap was not served either");
        server.send("serve-skip");
        assertEquals("[]", server.expect("SKIPPED", 10));
        assertArrayEquals(new byte[] {2}, files.echo(new byte[] {2}), "the proxy still reaches the first instance");
        assertNull(((RemoteCapability) files).revocation());
    }

    @Test
    void theRuntimeCapAnswersPingListsTheServedCapsAndReportsDiagnostics() throws Exception {
        peer.runtime().ping();
        ServedCaps caps = peer.runtime().servedCaps();
        assertEquals("files", caps.getCaps(0).getName());
        assertEquals("1.2.0", caps.getCaps(0).getVersion());
        assertEquals(24, caps.getCaps(0).getMethodIdsCount());
        assertEquals(List.of("files", "secret", "mine", "guarded"), caps.getCapsList().stream()
                .map(cap -> cap.getName()).toList());
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        Diagnostics diagnostics = peer.runtime().diagnostics();
        assertEquals(server.pid(), diagnostics.getPid());
        assertEquals(1, diagnostics.getExports());
        assertEquals(connection.connectionId(), diagnostics.getConnectionId());
        ((RemoteCapability) files).close();
    }

    @Test
    void handlerFailuresBecomeStatusesAndTheConnectionCarriesOn() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        StatusException own = assertThrows(StatusException.class, () -> files.fail("status".getBytes()));
        assertEquals(StatusCode.NOT_FOUND, own.code());
        assertEquals("no.such.thing", own.reason());
        assertEquals("the handler says so", own.detail());
        StatusException broken = assertThrows(StatusException.class, () -> files.fail("runtime".getBytes()));
        assertEquals(StatusCode.INTERNAL, broken.code());
        assertEquals("handler.failed", broken.reason());
        String error = server.expect("RPC-ERROR", 10);
        assertTrue(error.startsWith("IllegalStateException handler of files.fail on "), "the observer's error event,"
                + " with the exception the peer is not told: " + error);
        assertArrayEquals(new byte[] {5}, files.echo(new byte[] {5}));
    }

    @Test
    void aChainOfCallbacksSixteenDeepOverOneConnectionDoesNotDeadlock() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        Bouncer[] theirs = new Bouncer[1];
        Bouncer mine = depth -> {
            if (depth[0] == 0) {
                return new byte[] {0};
            }
            byte[] below = theirs[0].bounce(new byte[] {(byte) (depth[0] - 1)});
            byte[] seen = new byte[below.length + 1];
            seen[0] = depth[0];
            System.arraycopy(below, 0, seen, 1, below.length);
            return seen;
        };
        theirs[0] = files.bouncer(mine);
        byte[] seen = theirs[0].bounce(new byte[] {16});
        assertEquals(17, seen.length);
        for (int i = 0; i < 17; i++) {
            assertEquals(16 - i, seen[i]);
        }
    }

    @Test
    void aHandlersChildCallsInheritItsDeadlineAndItsCancellation() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        CompletableFuture<Duration> childTimeLeft = new CompletableFuture<>();
        CompletableFuture<StatusException> childCancelled = new CompletableFuture<>();
        Reader mine = new Reader() {
            @Override
            public byte[] read() {
                // Runs here, called back by the server's handler: the server's call context travelled with it.
                CallContext context = CallContext.current();
                childTimeLeft.complete(context.timeLeft());
                CompletableFuture<Void> over = new CompletableFuture<>();
                context.onCancel(() -> over.complete(null));
                try {
                    over.get(20, TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                childCancelled.complete(context.cancellation());
                return new byte[0];
            }

            @Override
            public void close() {
            }
        };
        StatusException late = assertThrows(StatusException.class, () -> CallContext.withTimeout(
                Duration.ofMillis(500), () -> files.readFrom(mine)));
        assertEquals(StatusCode.DEADLINE_EXCEEDED, late.code());
        Duration left = childTimeLeft.get(10, TimeUnit.SECONDS);
        assertTrue(left != null && left.toMillis() <= 500, "the callback got at most what its caller had: " + left);
        StatusException why = childCancelled.get(10, TimeUnit.SECONDS);
        assertEquals(StatusCode.CANCELLED, why.code(), "the server cancelled its child call when its own was"
                + " (here at the deadline both share; see the next test for a cancel long before it)");
    }

    /**
     * A handler's child call made inside a longer {@code withTimeout} still carries no more than the handler's own
     * deadline; one made inside {@code detached} carries none of it (the default 30 s of a call without one).
     */
    @Test
    void aChildCallNeverOutlivesItsHandlersDeadlineUnlessDetached() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        List<Long> leftMs = new java.util.concurrent.CopyOnWriteArrayList<>();
        Reader mine = new Reader() {
            @Override
            public byte[] read() {
                leftMs.add(CallContext.current().timeLeft().toMillis());
                return new byte[] {(byte) leftMs.size()};
            }

            @Override
            public void close() {
            }
        };
        byte[] order = CallContext.withTimeout(Duration.ofSeconds(2), () -> files.readUnderScopes(mine));
        assertArrayEquals(new byte[] {1, 2}, order);
        assertTrue(leftMs.get(0) <= 2_000, "inside withTimeout(60 s): at most the caller's 2 s, " + leftMs.get(0));
        assertTrue(leftMs.get(1) > 20_000, "detached: the default deadline, not the caller's, " + leftMs.get(1));
    }

    /**
     * Cancelling a call (here by interrupting the thread blocked in it) reaches the child calls its handler made,
     * at once: the child's context still has most of the default 30 s deadline left when it sees CANCELLED, so
     * its own deadline, which would cancel it too, did not.
     */
    @Test
    void cancellingACallCancelsTheChildCallsOfItsHandlerLongBeforeAnyDeadline() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        CountDownLatch childRunning = new CountDownLatch(1);
        CompletableFuture<CallContext> childCancelled = new CompletableFuture<>();
        Reader mine = new Reader() {
            @Override
            public byte[] read() {
                CallContext context = CallContext.current(); // the server's child call, called back here
                context.onCancel(() -> childCancelled.complete(context));
                childRunning.countDown();
                try {
                    childCancelled.get(20, TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                return new byte[0];
            }

            @Override
            public void close() {
            }
        };
        CompletableFuture<StatusException> outcome = new CompletableFuture<>();
        Thread caller = new Thread(() -> {
            try {
                files.readFrom(mine);
                outcome.complete(null);
            } catch (StatusException e) {
                outcome.complete(e);
            }
        });
        caller.start();
        assertTrue(childRunning.await(10, TimeUnit.SECONDS), "the handler's child call reached this side");
        caller.interrupt();
        assertEquals("call.interrupted", outcome.get(10, TimeUnit.SECONDS).reason());
        CallContext child = childCancelled.get(10, TimeUnit.SECONDS);
        assertEquals(StatusCode.CANCELLED, child.cancellation().code(), "the CANCEL, not the deadline");
        assertTrue(child.timeLeft().toSeconds() > 15, "cancelled with " + child.timeLeft() + " left");
        caller.join(10_000);
    }

    @Test
    void aBlockingHandlerDoesNotStallOtherCallsOnTheConnection() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        CompletableFuture<StatReply> held = files.slowAsync(SlowRequest.newBuilder().setHoldMs(30_000).setTag("b")
                .build());
        server.expect("HOLDING b", 10);
        for (int i = 0; i < 100; i++) {
            assertArrayEquals(new byte[] {(byte) i}, files.echo(new byte[] {(byte) i}));
        }
        held.cancel(true);
    }

    @Test
    void anErrorInAHandlerClosesOnlyItsOwnConnection() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        try (NegotiatedConnection other = HandshakeClient.connect(transport, connection.connection().endpoint(),
                ClientOptions.builder("app").build(), rpc.listener())) {
            RemoteFiles bystander = rpc.connection(other.connection()).bootstrap(RemoteFiles.class);
            StatusException failed = assertThrows(StatusException.class, () -> files.fail("error".getBytes()));
            assertTrue(failed.code() == StatusCode.INTERNAL || failed.code() == StatusCode.UNAVAILABLE,
                    failed.toString());
            connection.connection().closeFuture().get(10, TimeUnit.SECONDS);
            assertArrayEquals(new byte[] {3}, bystander.echo(new byte[] {3}), "the other connection carries on");
        }
    }

    @Test
    void aServerKilledMidCallFailsThePendingCallAndEmptiesTheTables() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        Reader reader = files.open(OpenRequest.getDefaultInstance());
        CompletableFuture<StatReply> pending = files.slowAsync(SlowRequest.newBuilder().setHoldMs(30_000).setTag("k")
                .build());
        server.expect("HOLDING k", 10);
        server.kill();
        StatusException why = (StatusException) assertThrows(ExecutionException.class,
                () -> pending.get(10, TimeUnit.SECONDS)).getCause();
        assertEquals(StatusCode.UNAVAILABLE, why.code());
        waitFor(peer::isClosed, "the RPC side to see the close");
        assertEquals(0, peer.importCount());
        assertEquals(0, peer.questionCount());
        assertEquals(StatusCode.UNAVAILABLE, assertThrows(StatusException.class, reader::read).code());
    }

    @Test
    void theServersInFlightLimitAnswersWithItsReasonAndFreesUpAsCallsEnd() throws Exception {
        try (ChildJvm strict = ChildJvm.start(RpcServerMain.class, List.of("-Dcapwire.rpc.maxInFlight=2"),
                "unix:" + DIR.path("strict-" + System.nanoTime()));
                NegotiatedConnection toStrict = HandshakeClient.connect(transport,
                        Endpoint.parse(strict.expect("READY", 30)), ClientOptions.builder("app").build(),
                        rpc.listener())) {
            RemoteFiles files = rpc.connection(toStrict.connection()).bootstrap(RemoteFiles.class);
            List<CompletableFuture<StatReply>> held = List.of(
                    files.slowAsync(SlowRequest.newBuilder().setHoldMs(30_000).setTag("s1").build()),
                    files.slowAsync(SlowRequest.newBuilder().setHoldMs(30_000).setTag("s2").build()));
            strict.expect("HOLDING s", 10);
            strict.expect("HOLDING s", 10);
            StatusException refused = assertThrows(StatusException.class, () -> files.echo(new byte[1]));
            assertEquals(StatusCode.RESOURCE_EXHAUSTED, refused.code());
            assertEquals("capwire.rpc.maxInFlight", refused.reason());
            strict.send("fds");
            String fdsBefore = strict.expect("FDS", 10);
            FileDescriptor[] pipe = FileDescriptor.pipe();
            try {
                assertEquals("capwire.rpc.maxInFlight", assertThrows(StatusException.class,
                        () -> files.readFd(pipe[0])).reason());
            } finally {
                pipe[0].close();
                pipe[1].close();
            }
            strict.send("fds");
            assertEquals(fdsBefore, strict.expect("FDS", 10), "the refused call's fd was closed on the server");
            held.get(0).cancel(true);
            strict.expect("CANCELLED s1", 10);
            waitFor(() -> {
                try {
                    return files.echo(new byte[] {1})[0] == 1;
                } catch (StatusException e) {
                    return false; // the cancelled call's slot is freed once its handler has returned
                }
            }, "a free slot");
            held.get(1).cancel(true);
        }
    }

    @Test
    void theCallersInFlightLimitFailsLocallyWithItsReason() throws Exception {
        Rpc tight = Rpc.create(RpcOptions.builder().executor(handlers).maxInFlight(2).build());
        Endpoint endpoint = connection.connection().endpoint();
        try (NegotiatedConnection second = HandshakeClient.connect(transport, endpoint,
                ClientOptions.builder("app").build(), tight.listener())) {
            RemoteFiles files = tight.connection(second.connection()).bootstrap(RemoteFiles.class);
            List<CompletableFuture<StatReply>> held = List.of(
                    files.slowAsync(SlowRequest.newBuilder().setHoldMs(10_000).setTag("l1").build()),
                    files.slowAsync(SlowRequest.newBuilder().setHoldMs(10_000).setTag("l2").build()));
            CompletableFuture<StatReply> third = files.slowAsync(SlowRequest.newBuilder().setHoldMs(1).setTag("l3")
                    .build());
            StatusException refused = (StatusException) assertThrows(ExecutionException.class, () -> third.get(10,
                    TimeUnit.SECONDS)).getCause();
            assertEquals(StatusCode.RESOURCE_EXHAUSTED, refused.code());
            assertEquals("capwire.rpc.maxInFlight", refused.reason());
            held.forEach(future -> future.cancel(true));
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // What the RPC layer reuses from call to call is never seen reused: the server reuses a non-blocking
    // call's bookkeeping once it is answered, and each thread reuses its decoder of answers.
    // ---------------------------------------------------------------------------------------------------

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * A handler keeps its call's context after answering, and later calls on the loop (which reuse the answered
     * call's bookkeeping) are made, some with their own deadlines and some cancelled: every kept context still
     * says what it said during its own call, is its own object, and none of the later cancellations reached it.
     */
    @Test
    void aContextKeptByTheHandlerAfterItsCallIsNeverReusedForALaterCall() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        int kept = 40;
        for (int i = 0; i < kept; i++) {
            String tag = "t" + i;
            byte[] back = CallContext.withTimeout(Duration.ofSeconds(60 + i), () -> files.holdContext(bytes(tag)));
            assertArrayEquals(bytes(tag), back);
            for (int j = 0; j < 5; j++) {
                byte[] echo = bytes(tag + "/" + j);
                assertArrayEquals(echo, files.echoOnLoop(echo));
                assertArrayEquals(echo, files.echoOnLoopAsync(echo).get(10, TimeUnit.SECONDS));
            }
            if (i % 8 == 0) {
                CompletableFuture<byte[]> parked = files.parkOnLoop(bytes("p" + i));
                parked.cancel(true);
                assertEquals("CancellationException", server.expect("PARK ENDED p" + i, 10),
                        "the parked call's own cancellation reached it");
            }
        }
        String report = new String(files.heldContexts(new byte[0]), StandardCharsets.UTF_8);
        assertEquals("held=" + kept + " distinct=" + kept + " changed=0 cancelled=0 hooks=0", report);
    }

    /** Many threads call non-blocking methods at once, each with its own bytes: every call gets its own back. */
    @Test
    void concurrentCallsFromManyThreadsEachGetTheirOwnAnswer() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        int threads = 8;
        int calls = 1500;
        ExecutorService callers = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Integer>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                done.add(callers.submit(() -> {
                    List<CompletableFuture<byte[]>> pending = new ArrayList<>();
                    List<byte[]> sent = new ArrayList<>();
                    for (int i = 0; i < calls; i++) {
                        byte[] mine = ByteBuffer.allocate(12 + i % 50).putInt(thread).putLong(i).array();
                        if (i % 3 == 0) {
                            assertArrayEquals(mine, files.echoOnLoop(mine));
                        } else {
                            sent.add(mine);
                            pending.add(files.echoOnLoopAsync(mine));
                        }
                        if (pending.size() == 64) {
                            check(sent, pending);
                        }
                    }
                    check(sent, pending);
                    return calls;
                }));
            }
            for (Future<Integer> each : done) {
                assertEquals(calls, each.get(60, TimeUnit.SECONDS));
            }
        } finally {
            callers.shutdownNow();
        }
    }

    private static void check(List<byte[]> sent, List<CompletableFuture<byte[]>> pending) throws Exception {
        for (int i = 0; i < pending.size(); i++) {
            assertArrayEquals(sent.get(i), pending.get(i).get(30, TimeUnit.SECONDS));
        }
        sent.clear();
        pending.clear();
    }

    /**
     * The cap is unserved while threads keep calling non-blocking methods: the revocation (on the server's
     * command thread) and the loop's own answers race for the same calls. Each call gets its own bytes back or
     * the revocation, never another call's answer; and the connection carries on.
     */
    @Test
    void revokingWhileNonBlockingCallsRunNeverAnswersOneCallWithAnothersResult() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        int threads = 4;
        ExecutorService callers = Executors.newFixedThreadPool(threads);
        AtomicInteger answered = new AtomicInteger();
        AtomicInteger revoked = new AtomicInteger();
        CountDownLatch warm = new CountDownLatch(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                done.add(callers.submit(() -> {
                    for (int i = 0; ; i++) {
                        if (i == 200) {
                            warm.countDown();
                        }
                        byte[] mine = ByteBuffer.allocate(12).putInt(thread).putLong(i).array();
                        try {
                            byte[] back = i % 2 == 0 ? files.echoOnLoop(mine)
                                    : files.echoOnLoopAsync(mine).get(30, TimeUnit.SECONDS);
                            assertArrayEquals(mine, back, "the call's own bytes");
                            answered.incrementAndGet();
                        } catch (StatusException | ExecutionException e) {
                            StatusException why = (StatusException) (e instanceof ExecutionException ? e.getCause()
                                    : e);
                            assertEquals(StatusCode.UNAVAILABLE, why.code(), why.toString());
                            revoked.incrementAndGet();
                            return null;
                        }
                    }
                }));
            }
            assertTrue(warm.await(60, TimeUnit.SECONDS));
            server.send("unserve");
            server.expect("UNSERVED", 10);
            for (Future<?> each : done) {
                each.get(60, TimeUnit.SECONDS);
            }
        } finally {
            callers.shutdownNow();
        }
        assertEquals(threads, revoked.get(), "every thread ended on the revocation");
        assertTrue(answered.get() >= threads * 200);
        StatusException later = assertThrows(StatusException.class, () -> files.echoOnLoop(new byte[1]));
        assertEquals(StatusCode.UNAVAILABLE, later.code());
        // The connection itself carries on: the runtime cap still answers.
        assertEquals(StatusCode.NOT_FOUND, assertThrows(StatusException.class,
                () -> peer.bootstrap(RemoteFiles.class)).code());
    }

    /** Collects the results a {@link ResultSink} receives, copying each view while it is valid. */
    private static final class Collected<T> implements ResultSink<T> {
        final java.util.concurrent.BlockingQueue<Object> got = new java.util.concurrent.LinkedBlockingQueue<>();

        @Override
        public void result(T value) {
            if (value instanceof org.agrona.DirectBuffer) {
                org.agrona.DirectBuffer view = (org.agrona.DirectBuffer) value;
                byte[] copy = new byte[view.capacity()];
                view.getBytes(0, copy);
                got.add(copy);
            } else {
                got.add(value);
            }
        }

        @Override
        public void failed(StatusException why) {
            got.add(why);
        }

        Object next() throws InterruptedException {
            Object value = got.poll(30, TimeUnit.SECONDS);
            assertTrue(value != null, "a result within 30 s");
            return value;
        }
    }

    /**
     * The callback form: one sink for many calls from many threads, the argument and the result as views of the
     * receive buffers. Every call is answered once, with its own bytes (each thread's calls carry its own
     * marker, and the sink collects per thread through the bytes themselves).
     */
    @Test
    void theCallbackFormAnswersEachCallOnceThroughOneSharedSink() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        Collected<org.agrona.DirectBuffer> sink = new Collected<>();
        int threads = 4;
        int calls = 2000;
        ExecutorService callers = Executors.newFixedThreadPool(threads);
        java.util.Set<String> sent = java.util.concurrent.ConcurrentHashMap.newKeySet();
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                done.add(callers.submit(() -> {
                    for (int i = 0; i < calls; i++) {
                        byte[] mine = ByteBuffer.allocate(12 + i % 40).putInt(thread).putLong(i).array();
                        sent.add(java.util.Arrays.toString(mine));
                        files.echoView(new org.agrona.concurrent.UnsafeBuffer(mine), sink);
                        while (sink.got.size() + 1000 < sent.size()) {
                            Thread.yield(); // keep under the in-flight limit
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> each : done) {
                each.get(60, TimeUnit.SECONDS);
            }
        } finally {
            callers.shutdownNow();
        }
        java.util.Set<String> received = new java.util.HashSet<>();
        for (int i = 0; i < threads * calls; i++) {
            Object value = sink.next();
            assertTrue(value instanceof byte[], String.valueOf(value));
            assertTrue(received.add(java.util.Arrays.toString((byte[]) value)), "answered once");
        }
        assertEquals(sent, received);
        assertNull(sink.got.poll(50, TimeUnit.MILLISECONDS), "no answer twice");
    }

    /**
     * A handler in the callback form answers later, from another thread, after its call's handler returned;
     * and answers a sink it kept from an earlier call, and answers twice. Each call gets exactly its own answer.
     */
    @Test
    void aSinkAnsweredLaterOrKeptByTheHandlerAnswersOnlyItsOwnCallOnce() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        for (int i = 0; i < 200; i++) {
            Collected<byte[]> sink = new Collected<>();
            byte[] mine = ByteBuffer.allocate(8).putLong(i).array();
            files.echoLater(new org.agrona.concurrent.UnsafeBuffer(mine), sink);
            assertArrayEquals(mine, (byte[]) sink.next());
            // Between these calls others reuse the loop's bookkeeping: the kept sinks must not reach them.
            assertArrayEquals(mine, files.echoOnLoop(mine));
            assertNull(sink.got.poll(2, TimeUnit.MILLISECONDS), "answered once");
        }
    }

    @Test
    void aCallbackFormFailureReachesTheSinkAsItsStatus() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        Collected<byte[]> sink = new Collected<>();
        files.failThrough(bytes("status"), sink);
        StatusException status = (StatusException) sink.next();
        assertEquals(StatusCode.NOT_FOUND, status.code());
        assertEquals("test.missing", status.reason());
        files.failThrough(bytes("throw"), sink);
        assertEquals(StatusCode.INTERNAL, ((StatusException) sink.next()).code());
        assertThrows(NullPointerException.class, () -> files.failThrough(bytes("status"), null));
        ((RemoteCapability) files).close();
        files.failThrough(bytes("status"), sink);
        assertEquals("proxy.closed", ((StatusException) sink.next()).reason(), "failed locally, through the sink");
    }
}
