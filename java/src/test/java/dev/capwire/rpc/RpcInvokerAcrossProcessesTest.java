package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.rpc.testing.OpenRequest;
import dev.capwire.rpc.testing.SlowRequest;
import dev.capwire.rpc.testing.StatReply;
import dev.capwire.rpc.testing.StatRequest;
import dev.capwire.rpc.testing.TailRequest;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.StatusCode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An RPC client on an invoker-mode transport ({@code eventLoops = 0}): no loop thread, the test's own thread
 * owns the loop and is the only one that may run it, through {@link Transport#poll()} or through a blocking
 * call's wait. The server is a child JVM ({@link RpcServerMain}) with an ordinary loop thread. Each test gets a
 * transport of its own, made on the thread that runs the test (JUnit runs {@code @BeforeEach} there too).
 *
 * <p>The timeouts are JUnit's same-thread kind: they interrupt the test's thread, which is what a wait that
 * never ends (the stream consumed without running the loop) needs to end at all.
 */
class RpcInvokerAcrossProcessesTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwinv");

    private static ChildJvm server;
    private static Endpoint endpoint;
    private static ExecutorService handlers;
    private static ScheduledExecutorService timer;

    private Transport transport;
    private Rpc rpc;
    private NegotiatedConnection connection;
    private RpcConnection peer;

    @BeforeAll
    static void startServer() throws Exception {
        server = ChildJvm.start(RpcServerMain.class, "unix:" + DIR.path("invoker-" + System.nanoTime()));
        endpoint = Endpoint.parse(server.expect("READY", 30));
        handlers = Executors.newCachedThreadPool();
        timer = Executors.newSingleThreadScheduledExecutor();
    }

    @AfterAll
    static void stopServer() throws Exception {
        try {
            server.close();
        } finally {
            handlers.shutdownNow();
            timer.shutdownNow();
            assertTrue(handlers.awaitTermination(10, TimeUnit.SECONDS));
            assertTrue(timer.awaitTermination(10, TimeUnit.SECONDS));
        }
    }

    @BeforeEach
    void connect() throws Exception {
        transport = Transport.create(TransportOptions.builder().eventLoops(0).build());
        rpc = Rpc.create(RpcOptions.builder().executor(handlers).build());
        connection = HandshakeClient.connect(transport, endpoint, ClientOptions.builder("app").build(),
                rpc.listener());
        peer = rpc.connection(connection.connection());
    }

    @AfterEach
    void close() {
        Thread.interrupted(); // a test that failed may leave its interrupt behind
        transport.close();
    }

    @Test
    @Timeout(60)
    void aBlockingCallOnTheInvokerThreadRunsTheLoopUntilItsAnswer() throws Exception {
        assertTrue(transport.isDrivenByCurrentThread());
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        StatReply reply = files.stat(StatRequest.newBuilder().setPath("/invoker").build());
        assertEquals("/invoker", reply.getPath());
        assertEquals(ProcessHandle.current().pid(), reply.getCallerPid());
        for (int i = 0; i < 200; i++) {
            assertArrayEquals(new byte[] {(byte) i}, files.echo(new byte[] {(byte) i}));
        }
        assertEquals(0, peer.questionCount());
    }

    @Test
    @Timeout(60)
    void anAsynchronousCallCompletesOnTheInvokerThreadAsItPolls() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        Thread me = Thread.currentThread();
        List<CompletableFuture<Thread>> completedOn = new ArrayList<>();
        List<CompletableFuture<StatReply>> replies = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            CompletableFuture<StatReply> reply = files.statAsync(StatRequest.newBuilder().setPath("p" + i).build());
            replies.add(reply);
            completedOn.add(reply.thenApply(ignored -> Thread.currentThread()));
        }
        pollUntil(() -> replies.stream().allMatch(CompletableFuture::isDone), "the answers");
        for (int i = 0; i < 50; i++) {
            assertEquals("p" + i, replies.get(i).get().getPath());
            assertSame(me, completedOn.get(i).get(), "answers complete as loop work, on the thread that polls");
        }
    }

    @Test
    @Timeout(60)
    void aReturnedCapIsUsedThenClosedAndTheServerLetsGoOfIt() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        int before = serverExports();
        Reader reader = files.open(OpenRequest.newBuilder().setContent(ByteString.copyFromUtf8("invoked")).build());
        assertEquals("invoked", text(reader.read()));
        assertEquals(2, peer.importCount());
        assertEquals(before + 1, serverExports());
        reader.close();
        assertEquals(1, peer.importCount());
        waitForServerExports(before); // the RELEASE goes out with the next duty cycle
        StatusException closed = assertThrows(StatusException.class, reader::read);
        assertEquals("proxy.closed", closed.reason());
    }

    @Test
    @Timeout(60)
    void anFdTravelsAsAResultAndAsAnArgument() throws Exception {
        FdThroughMethods.check(peer.bootstrap(RemoteFiles.class));
    }

    /**
     * Three times the initial credit of 32: the producer stops at its credit until this side grants more, which
     * only happens if the consumer's wait runs the loop (to read the items and to send the grants).
     */
    @Test
    @Timeout(30)
    void aServerStreamIsConsumedOnTheInvokerThreadPastItsInitialCredit() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        Thread me = Thread.currentThread();
        List<Integer> numbers = new ArrayList<>();
        Set<Thread> sinkThreads = ConcurrentHashMap.newKeySet();
        files.tail(TailRequest.newBuilder().setLines(100).build(), line -> {
            sinkThreads.add(Thread.currentThread());
            numbers.add(line.getNumber());
        });
        assertEquals(100, numbers.size());
        for (int i = 0; i < 100; i++) {
            assertEquals(i + 1, numbers.get(i));
        }
        assertEquals(Set.of(me), sinkThreads, "the sink runs on the consuming thread");
        assertEquals("100 OK", expectWhilePolling("STREAM-END"));
        assertEquals(0, peer.openStreams());
        assertArrayEquals(new byte[] {3}, files.echo(new byte[] {3}), "the connection goes on");
    }

    /**
     * A callback that runs while the application polls is loop work: a blocking call there could only be
     * answered by the duty cycle it is part of. It fails at once, saying so, instead of waiting out its
     * deadline; and the connection goes on serving.
     */
    @Test
    @Timeout(60)
    void aBlockingCallInsideAPollCallbackFailsAtOnceAndTheConnectionGoesOn() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        CompletableFuture<Throwable> unary = new CompletableFuture<>();
        CompletableFuture<Throwable> stream = new CompletableFuture<>();
        CompletableFuture<Throwable> bootstrap = new CompletableFuture<>();
        files.statAsync(StatRequest.newBuilder().setPath("cb").build()).whenComplete((reply, failure) -> {
            unary.complete(failureOf(() -> files.echo(new byte[] {1})));
            stream.complete(failureOf(() -> files.tail(TailRequest.newBuilder().setLines(5).build(), line -> { })));
            bootstrap.complete(failureOf(() -> peer.bootstrap(RemoteFiles.class)));
        });
        long start = System.nanoTime();
        pollUntil(() -> bootstrap.isDone(), "the callback's calls to end");
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(tookMs < 5_000, "failed at once, not at the call's deadline: " + tookMs + " ms");
        for (CompletableFuture<Throwable> outcome : List.of(unary, stream, bootstrap)) {
            Throwable why = outcome.get();
            assertTrue(why instanceof IllegalStateException, String.valueOf(why));
            assertTrue(why.getMessage().contains("blocks") && why.getMessage().contains("invoker"),
                    why.getMessage());
        }
        assertArrayEquals(new byte[] {2}, files.echo(new byte[] {2}), "the connection goes on serving");
        pollUntil(() -> peer.questionCount() == 0 && peer.openStreams() == 0, "nothing left in flight");
        assertEquals(1, peer.importCount(), "the refused bootstrap took no reference");
    }

    /**
     * The same check on a transport with a loop thread, where a stream consumed as loop work used to block the
     * loop thread for good (the stream has no deadline of its own): it fails at once, having sent nothing.
     */
    @Test
    @Timeout(60)
    void aStreamCalledAsLoopWorkOnALoopThreadFailsAtOnce() throws Exception {
        try (Transport threaded = Transport.create(TransportOptions.builder().eventLoops(1).build());
                NegotiatedConnection other = HandshakeClient.connect(threaded, endpoint,
                        ClientOptions.builder("app").build(), rpc.listener())) {
            RpcConnection otherPeer = rpc.connection(other.connection());
            RemoteFiles files = otherPeer.bootstrap(RemoteFiles.class);
            CompletableFuture<Throwable> stream = new CompletableFuture<>();
            files.statAsync(StatRequest.newBuilder().setPath("lw").build()).whenComplete((reply, failure) ->
                    stream.complete(failureOf(() -> files.tail(TailRequest.newBuilder().setLines(5).build(),
                            line -> { }))));
            Throwable why = stream.get(10, TimeUnit.SECONDS);
            assertTrue(why instanceof IllegalStateException, String.valueOf(why));
            assertTrue(why.getMessage().contains("event-loop work"), why.getMessage());
            assertEquals(0, otherPeer.openStreams());
            assertArrayEquals(new byte[] {6}, files.echo(new byte[] {6}), "the loop goes on");
        }
    }

    /**
     * No loop thread fires the deadline's timer: the invoker's own wait runs the loop, and so the timers. The
     * server's handler holds for ten seconds; the caller gives up after 300 ms, and the handler hears CANCEL.
     */
    @Test
    @Timeout(60)
    void aDeadlinePassesWhileTheInvokerWaits() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        long start = System.nanoTime();
        StatusException late = assertThrows(StatusException.class, () -> CallContext.withTimeout(
                Duration.ofMillis(300), () -> files.slow(SlowRequest.newBuilder().setHoldMs(10_000)
                        .setTag("inv-d").build())));
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertEquals(StatusCode.DEADLINE_EXCEEDED, late.code());
        assertTrue(tookMs >= 250 && tookMs < 5_000, "ended at its deadline: " + tookMs + " ms");
        assertEquals("CANCELLED CANCELLED call.cancelled", "CANCELLED " + expectWhilePolling("CANCELLED inv-d"));
        CompletableFuture<StatReply> async = CallContext.withTimeout(Duration.ofMillis(300),
                () -> files.slowAsync(SlowRequest.newBuilder().setHoldMs(10_000).setTag("inv-a").build()));
        pollUntil(async::isDone, "the asynchronous call's deadline");
        StatusException asyncLate = (StatusException) assertThrows(Exception.class, async::get).getCause();
        assertEquals(StatusCode.DEADLINE_EXCEEDED, asyncLate.code());
        expectWhilePolling("CANCELLED inv-a");
    }

    /**
     * Only the owning thread runs the loop. A close from another thread queues the close for it and waits;
     * while the owner does not poll, nothing happens; once it does, the close completes there. And a close
     * while the owner is blocked in a call ends that call at once.
     */
    @Test
    @Timeout(60)
    void aCloseFromAnotherThreadLeavesTheLoopToTheOwningThread() throws Exception {
        Thread me = Thread.currentThread();
        Connection first = connection.connection();
        CompletableFuture<Thread> closedOn = first.closeFuture().thenApply(reason -> Thread.currentThread());
        Thread closer = new Thread(first::close, "closer");
        closer.start();
        Thread.sleep(300); // the owner does not poll meanwhile
        assertFalse(first.closeFuture().isDone(), "another thread ran the loop: the close completed without a poll");
        pollUntil(() -> first.closeFuture().isDone(), "the close");
        assertSame(me, closedOn.get(), "the close ran on the owning thread");
        closer.join(10_000);
        assertFalse(closer.isAlive(), "the closer returned once the owner had polled");

        NegotiatedConnection again = HandshakeClient.connect(transport, endpoint, ClientOptions.builder("app")
                .build(), rpc.listener());
        RemoteFiles files = rpc.connection(again.connection()).bootstrap(RemoteFiles.class);
        Connection second = again.connection();
        CompletableFuture<Thread> secondClosedOn = second.closeFuture().thenApply(reason -> Thread.currentThread());
        timer.schedule(second::close, 300, TimeUnit.MILLISECONDS);
        long start = System.nanoTime();
        StatusException gone = assertThrows(StatusException.class, () -> files.slow(SlowRequest.newBuilder()
                .setHoldMs(20_000).setTag("inv-c").build()));
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertEquals(StatusCode.UNAVAILABLE, gone.code(), gone.toString());
        assertTrue(tookMs < 10_000, "the close ended the call: " + tookMs + " ms");
        pollUntil(() -> secondClosedOn.isDone(), "the close");
        assertSame(me, secondClosedOn.get(), "the close ran on the owning thread");
    }

    /**
     * The transport closed by another thread: that thread hands the closes to the owner and waits; the owner's
     * polls close the connection gracefully and then stop the loop, after which a poll does nothing.
     */
    @Test
    @Timeout(60)
    void closingTheTransportFromAnotherThreadLeavesTheLoopToTheOwningThread() throws Exception {
        Thread me = Thread.currentThread();
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        assertArrayEquals(new byte[] {5}, files.echo(new byte[] {5}));
        Connection only = connection.connection();
        // The closer waits on the close's future, and a waiter may run that future's dependents itself once
        // woken: the thread that ran the close is seen by a call the close fails instead.
        CompletableFuture<StatReply> pending = files.slowAsync(SlowRequest.newBuilder().setHoldMs(20_000)
                .setTag("inv-t").build());
        expectWhilePolling("HOLDING inv-t");
        CompletableFuture<Thread> closedOn = pending.handle((reply, failure) -> Thread.currentThread());
        Thread closer = new Thread(transport::close, "transport-closer");
        closer.start();
        Thread.sleep(300); // the owner does not poll meanwhile
        assertFalse(only.closeFuture().isDone(), "another thread ran the loop: the close completed without a poll");
        pollUntil(() -> !closer.isAlive(), "the transport's close to return");
        assertSame(me, closedOn.get(), "the close ran on the owning thread");
        assertEquals(CloseReason.Kind.LOCAL_CLOSE, only.closeFuture().get().kind(), "closed gracefully, not aborted");
        assertEquals(0, transport.poll(), "a stopped loop has nothing to do");
        assertEquals(0, transport.connectionCount());
    }

    /** An interrupt ends the wait of a blocking call: CANCELLED, the flag kept, and the handler hears CANCEL. */
    @Test
    @Timeout(60)
    void anInterruptEndsTheWaitAndKeepsTheFlag() throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        Thread me = Thread.currentThread();
        timer.schedule(me::interrupt, 300, TimeUnit.MILLISECONDS);
        long start = System.nanoTime();
        StatusException interrupted = assertThrows(StatusException.class, () -> files.slow(SlowRequest.newBuilder()
                .setHoldMs(20_000).setTag("inv-i").build()));
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(Thread.interrupted(), "the interrupt flag is kept");
        assertEquals(StatusCode.CANCELLED, interrupted.code());
        assertEquals("call.interrupted", interrupted.reason());
        assertTrue(tookMs < 10_000, "the interrupt ended the wait: " + tookMs + " ms");
        assertEquals("CANCELLED call.cancelled", expectWhilePolling("CANCELLED inv-i"));
        timer.schedule(me::interrupt, 300, TimeUnit.MILLISECONDS);
        StatusException streamInterrupted = assertThrows(StatusException.class, () -> files.tail(
                TailRequest.newBuilder().setLines(0).build(), line -> sleepThroughInterrupt()));
        assertTrue(Thread.interrupted(), "the interrupt flag is kept");
        assertEquals("call.interrupted", streamInterrupted.reason());
        assertTrue(expectWhilePolling("STREAM-STOPPED").endsWith("CANCELLED call.cancelled"));
        assertArrayEquals(new byte[] {4}, files.echo(new byte[] {4}), "the connection goes on");
    }

    /** A slow consumer: every item takes a moment, and the interrupt it may meet is left for the wait. */
    private static void sleepThroughInterrupt() {
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(5);
        while (System.nanoTime() - until < 0) {
            Thread.onSpinWait();
        }
    }

    private static Throwable failureOf(Runnable call) {
        try {
            call.run();
            return null;
        } catch (Throwable t) {
            return t;
        }
    }

    /** Polls the invoker's loop until {@code done}, for at most 20 s. */
    private void pollUntil(BooleanSupplier done, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!done.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out polling for " + what);
            }
            if (transport.poll() == 0) {
                Thread.onSpinWait();
            }
        }
    }

    /** The server's next line starting with {@code prefix}, read on another thread while this one polls. */
    private String expectWhilePolling(String prefix) throws Exception {
        CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
            try {
                return server.expect(prefix, 10);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, handlers);
        pollUntil(line::isDone, prefix);
        return line.get();
    }

    private int serverExports() throws Exception {
        server.send("exports");
        return Integer.parseInt(expectWhilePolling("EXPORTS"));
    }

    private void waitForServerExports(int expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        int seen;
        while ((seen = serverExports()) != expected && System.nanoTime() < deadline) {
            transport.poll();
        }
        assertEquals(expected, seen, "the server's exports");
    }

    private static String text(byte[] bytes) {
        assertNotNull(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
