package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.Leaks;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Handlers run off the loop by {@link OffLoopListener}, over real sockets. */
class OffLoopListenerTest {
    private static final UnsafeBuffer EMPTY = new UnsafeBuffer(new byte[0]);

    private Path dir;
    private final ConcurrentLinkedQueue<Throwable> reported = new ConcurrentLinkedQueue<>();
    private Transport server;
    private Transport client;
    private ExecutorService pool;

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cw");
        // One loop on the server: every connection shares it, so a handler blocking it would stall them all.
        server = Transport.create(TransportOptions.builder().eventLoops(1).exposeHandlerErrors(true)
                .errorHandler(reported::add).build());
        client = Transport.create(TransportOptions.builder().eventLoops(2).build());
        pool = Executors.newFixedThreadPool(8);
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.close();
        pool.shutdownNow();
        Files.deleteIfExists(dir.resolve("s"));
        Files.deleteIfExists(dir);
    }

    private Endpoint endpoint() {
        return Endpoint.unix(dir.resolve("s"));
    }

    private static UnsafeBuffer text(String s) {
        return new UnsafeBuffer(s.getBytes(StandardCharsets.UTF_8));
    }

    private static void reply(Connection connection, InboundFrame frame, String s) {
        UnsafeBuffer payload = text(s);
        connection.respond(frame.correlationId(), payload, 0, payload.capacity());
    }

    /**
     * One connection's handler waits on a latch, another's makes a blocking call() to a server in a child JVM
     * that never answers; meanwhile a third connection on the same server loop gets 200 replies. On the loop,
     * the latch would stall them all (and call() would be refused outright).
     */
    @Test
    void blockingHandlersDoNotStallOtherConnectionsOfTheLoop() throws Exception {
        Endpoint farEndpoint = Endpoint.unix(dir.resolve("far"));
        try (ChildJvm far = ChildJvm.start(EchoServerMain.class, farEndpoint.toString())) {
            far.expect("READY", 30);
            Connection toFar = server.connect(farEndpoint, (c, f) -> { });
            CountDownLatch release = new CountDownLatch(1);
            server.listen(endpoint(), FrameListener.onExecutor(pool, (connection, frame) -> {
                if (frame.type() != FrameType.REQUEST) {
                    return;
                }
                switch (frame.methodId()) {
                    case 1:
                        awaitQuietly(release);
                        reply(connection, frame, "released");
                        break;
                    case 2:
                        try {
                            toFar.call(1, EchoServerMain.METHOD_HOLD, EMPTY, 0, 0, 1500);
                            reply(connection, frame, "answered?");
                        } catch (StatusException e) {
                            reply(connection, frame, e.code().name());
                        }
                        break;
                    default:
                        reply(connection, frame, "quick");
                }
            }));
            Connection latched = client.connect(endpoint(), (c, f) -> { });
            Connection calling = client.connect(endpoint(), (c, f) -> { });
            Connection quick = client.connect(endpoint(), (c, f) -> { });
            CompletableFuture<Response> latchedReply = latched.request(0, 1, EMPTY, 0, 0, 20_000);
            CompletableFuture<Response> callingReply = calling.request(0, 2, EMPTY, 0, 0, 20_000);
            long startNanos = System.nanoTime();
            for (int i = 0; i < 200; i++) {
                assertEquals("quick", new String(quick.call(0, 3, EMPTY, 0, 0, 5_000).payload(),
                        StandardCharsets.UTF_8));
            }
            long quickMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
            assertFalse(latchedReply.isDone(), "the latched handler is still waiting");
            assertTrue(quickMillis < 1500 || !callingReply.isDone(),
                    "200 quick calls took " + quickMillis + " ms, as long as the blocked call()");
            assertEquals("DEADLINE_EXCEEDED", new String(callingReply.get(10, TimeUnit.SECONDS).payload(),
                    StandardCharsets.UTF_8), "the handler's own blocking call() ran, off the loop, to its deadline");
            release.countDown();
            assertEquals("released", new String(latchedReply.get(10, TimeUnit.SECONDS).payload(),
                    StandardCharsets.UTF_8));
            assertTrue(reported.isEmpty(), reported.toString());
        }
    }

    /** Past the per-connection bound a REQUEST is answered RESOURCE_EXHAUSTED at once, and a NOTIFY dropped. */
    @Test
    void overTheBoundRequestsAreRefusedAndNotifiesDropped() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        OffLoopListener listener = OffLoopListener.builder((connection, frame) -> {
            awaitQuietly(release);
            if (frame.type() == FrameType.REQUEST) {
                reply(connection, frame, "done");
            }
        }).executor(pool).maxQueuedFramesPerConnection(2).maxQueuedFrames(3).build();
        server.listen(endpoint(), listener);
        Connection first = client.connect(endpoint(), (c, f) -> { });
        CompletableFuture<Response> running = first.request(0, 1, EMPTY, 0, 0, 20_000);
        CompletableFuture<Response> queued = first.request(0, 1, EMPTY, 0, 0, 20_000);
        // The third frame of the same connection finds two waiting: the loop refuses it without the handler.
        StatusException refused = assertThrows(StatusException.class, () -> first.call(0, 1, EMPTY, 0, 0, 5_000));
        assertEquals(StatusCode.RESOURCE_EXHAUSTED, refused.code());
        assertTrue(refused.getMessage().contains("capwire.handlerQueueFramesPerConnection"), refused.getMessage());
        assertTrue(first.offerNotify(0, 1, EMPTY, 0, 0));
        // A second connection may queue one more (3 in all), then the total bound refuses it too.
        Connection second = client.connect(endpoint(), (c, f) -> { });
        CompletableFuture<Response> third = second.request(0, 1, EMPTY, 0, 0, 20_000);
        StatusException overTotal = assertThrows(StatusException.class, () -> second.call(0, 1, EMPTY, 0, 0, 5_000));
        assertEquals(StatusCode.RESOURCE_EXHAUSTED, overTotal.code());
        assertTrue(overTotal.getMessage().contains("(capwire.handlerQueueFrames)"), overTotal.getMessage());
        waitFor(() -> listener.dropped() == 1, "the NOTIFY over the bound is dropped and counted");
        assertEquals(2, listener.refused());
        assertEquals(3, listener.queued());
        release.countDown();
        for (CompletableFuture<Response> reply : List.of(running, queued, third)) {
            assertEquals("done", new String(reply.get(10, TimeUnit.SECONDS).payload(), StandardCharsets.UTF_8));
        }
        waitFor(() -> listener.queued() == 0, "the queue drains");
        // One report per overloaded connection, not one per frame.
        assertEquals(2, reported.size(), reported.toString());
        for (Throwable report : reported) {
            assertEquals(StatusCode.RESOURCE_EXHAUSTED, ((StatusException) report).code());
        }
    }

    /** The ListenerGuard's policy, off the loop: INTERNAL for the caller, the exception for the error handler. */
    @Test
    void aThrowingHandlerIsAnsweredInternalAndReported() throws Exception {
        AtomicReference<String> handlerThread = new AtomicReference<>();
        server.listen(endpoint(), FrameListener.onExecutor(pool, (connection, frame) -> {
            handlerThread.set(Thread.currentThread().getName());
            if (frame.methodId() == 9) {
                throw new AssertionError("deliberate Error");
            }
            throw new IllegalStateException("deliberate failure " + frame.correlationId());
        }));
        Connection connection = client.connect(endpoint(), (c, f) -> { });
        StatusException failed = assertThrows(StatusException.class, () -> connection.call(0, 1, EMPTY, 0, 0, 5_000));
        assertEquals(StatusCode.INTERNAL, failed.code());
        assertTrue(failed.getMessage().contains("IllegalStateException: deliberate failure"), failed.getMessage());
        assertFalse(handlerThread.get().contains("loop"), "ran on " + handlerThread.get());
        waitFor(() -> !reported.isEmpty(), "the failure reaches the error handler");
        Throwable report = reported.poll();
        assertInstanceOf(ListenerGuard.ListenerException.class, report);
        assertInstanceOf(IllegalStateException.class, report.getCause());
        assertTrue(connection.isOpen(), "a RuntimeException leaves the connection open");
        assertEquals(StatusCode.INTERNAL,
                assertThrows(StatusException.class, () -> connection.call(0, 1, EMPTY, 0, 0, 5_000)).code());
        // An Error may have left the handler's state half-changed: that connection, and only it, closes.
        Connection other = client.connect(endpoint(), (c, f) -> { });
        assertThrows(StatusException.class, () -> connection.call(0, 9, EMPTY, 0, 0, 5_000));
        connection.closeFuture().get(10, TimeUnit.SECONDS);
        assertTrue(other.isOpen());
        waitFor(() -> reported.stream().anyMatch(t -> t.getCause() instanceof AssertionError), "the Error is reported");
    }

    /**
     * Eight executor threads, four connections sending 3000 NOTIFYs each: each connection's frames reach the
     * handler in order, never two at once, and onClose comes after the last of them.
     */
    @Test
    void framesOfOneConnectionAreHandledInOrderOneAtATime() throws Exception {
        int connections = 4;
        int perConnection = 3000;
        Map<Connection, List<Long>> seen = new ConcurrentHashMap<>();
        Map<Connection, AtomicBoolean> busy = new ConcurrentHashMap<>();
        ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();
        CountDownLatch closed = new CountDownLatch(connections);
        server.listen(endpoint(), OffLoopListener.builder(new FrameListener() {
            @Override
            public void onFrame(Connection connection, InboundFrame frame) {
                AtomicBoolean inside = busy.computeIfAbsent(connection, c -> new AtomicBoolean());
                if (!inside.compareAndSet(false, true)) {
                    violations.add("two frames of " + connection + " at once");
                }
                seen.computeIfAbsent(connection, c -> java.util.Collections.synchronizedList(new ArrayList<>()))
                        .add(frame.buffer().getLong(frame.payloadOffset()));
                if ((frame.buffer().getLong(frame.payloadOffset()) & 63) == 0) {
                    Thread.yield(); // give the other threads every chance to overtake
                }
                inside.set(false);
            }

            @Override
            public void onClose(Connection connection, CloseReason reason) {
                List<Long> frames = seen.get(connection);
                if (frames == null || frames.size() != perConnection) {
                    violations.add("onClose of " + connection + " after " + (frames == null ? 0 : frames.size())
                            + " frames");
                }
                closed.countDown();
            }
        }).executor(pool).maxQueuedFramesPerConnection(perConnection).maxQueuedFrames(connections * perConnection)
                .build());
        List<CompletableFuture<Void>> senders = new ArrayList<>();
        for (int c = 0; c < connections; c++) {
            Connection connection = client.connect(endpoint(), (x, f) -> { });
            senders.add(CompletableFuture.runAsync(() -> {
                UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
                for (long seq = 0; seq < perConnection; seq++) {
                    payload.putLong(0, seq);
                    connection.sendNotify(0, 1, payload, 0, 8, 10_000);
                }
                connection.close(); // graceful: everything sent arrives before the end
            }));
        }
        for (CompletableFuture<Void> sender : senders) {
            sender.get(30, TimeUnit.SECONDS);
        }
        assertTrue(closed.await(30, TimeUnit.SECONDS), "every connection's onClose ran");
        assertTrue(violations.isEmpty(), violations.toString());
        assertEquals(connections, seen.size());
        for (List<Long> frames : seen.values()) {
            for (int i = 0; i < perConnection; i++) {
                assertEquals(i, frames.get(i), "frame " + i);
            }
        }
        assertTrue(reported.isEmpty(), reported.toString());
    }

    /** Fds reach the handler off the loop; those it takes are its own, those it leaves are closed for it. */
    @Test
    void fdsReachTheHandlerAndUntakenOnesAreClosed() throws Exception {
        server.listen(endpoint(), FrameListener.onExecutor(pool, (connection, frame) -> {
            int count = frame.fdCount();
            if (frame.methodId() == 1) {
                FileDescriptor[] fds = frame.takeFds();
                try {
                    ByteBuffer bytes = ByteBuffer.allocateDirect(16).put("via fd".getBytes(StandardCharsets.UTF_8));
                    fds[0].write(bytes.flip());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                } finally {
                    for (FileDescriptor fd : fds) {
                        fd.close();
                    }
                }
            }
            reply(connection, frame, Integer.toString(count));
        }));
        java.util.TreeMap<Integer, String> fdsBefore = Leaks.openFds(); // the listening socket is not a leak
        Connection connection = client.connect(endpoint(), (c, f) -> { });
        FileDescriptor[] pipe = FileDescriptor.pipe();
        try {
            assertEquals("1", new String(connection.call(0, 1, EMPTY, 0, 0, 5_000, pipe[1]).payload(),
                    StandardCharsets.UTF_8));
            ByteBuffer read = ByteBuffer.allocateDirect(64);
            assertTrue(pipe[0].awaitReadable(5_000));
            int n = pipe[0].read(read);
            byte[] bytes = new byte[n];
            read.flip().get(bytes);
            assertEquals("via fd", new String(bytes, StandardCharsets.UTF_8));
            // Not taken: the handler still sees both, and they are closed when it returns.
            assertEquals("2", new String(connection.call(0, 2, EMPTY, 0, 0, 5_000, pipe[1], pipe[1]).payload(),
                    StandardCharsets.UTF_8));
        } finally {
            pipe[0].close();
            pipe[1].close();
        }
        connection.close();
        assertNull(Leaks.fdsLeftOver(fdsBefore), "fds left open");
        assertTrue(reported.isEmpty(), reported.toString());
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void waitFor(java.util.function.BooleanSupplier condition, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out: " + what);
            }
            Thread.sleep(5);
        }
    }
}
