package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import dev.capwire.testing.Leaks;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** Both ends in this JVM, on separate transports: the fast check of the transport's own logic. */
class InProcessEchoTest {
    private Path dir;
    private Transport server;
    private Transport client;

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cw");
        server = Transport.create(TransportOptions.defaults());
        client = Transport.create(TransportOptions.defaults());
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.close();
        Files.deleteIfExists(dir.resolve("s"));
        Files.deleteIfExists(dir);
    }

    private static void echo(Connection connection, InboundFrame frame) {
        if (frame.type() == FrameType.REQUEST) {
            if (frame.methodId() == 9) {
                connection.respondError(frame.correlationId(), StatusCode.NOT_FOUND, "no method 9");
                return;
            }
            connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength());
        }
    }

    @Test
    void echoesSmallAndFragmentedPayloads() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
        server.listen(endpoint, InProcessEchoTest::echo);
        Connection connection = client.connect(endpoint, (c, f) -> { });
        Random random = new Random(42);
        for (int size : new int[] {0, 1, 64, 65_000, 70_000, 1 << 20}) {
            byte[] bytes = new byte[size];
            random.nextBytes(bytes);
            Response reply = connection.call(2, 1, new UnsafeBuffer(bytes), 0, size, 10_000);
            assertArrayEquals(bytes, reply.payload(), "size " + size);
        }
        assertEquals(ProcessHandle.current().pid(), connection.peerCredentials().pid().getAsLong());
    }

    /**
     * Peer credentials are asked of the kernel when first wanted: kept once asked, even after the close; a
     * connection asked for the first time after its socket is gone has none (null), never made-up values.
     */
    @Test
    void peerCredentialsAreFetchedWhenFirstAskedForAndKeptAfterTheClose() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
        server.listen(endpoint, InProcessEchoTest::echo);
        Connection asked = client.connect(endpoint, (c, f) -> { });
        Connection neverAsked = client.connect(endpoint, (c, f) -> { });
        long pid = ProcessHandle.current().pid();
        assertEquals(pid, asked.peerCredentials().pid().getAsLong());
        asked.close();
        neverAsked.close();
        asked.closeFuture().get(10, TimeUnit.SECONDS);
        neverAsked.closeFuture().get(10, TimeUnit.SECONDS);
        assertEquals(pid, asked.peerCredentials().pid().getAsLong(), "kept after the close");
        assertNull(neverAsked.peerCredentials(), "first asked after the close: nothing to ask any more");
    }

    /**
     * On TCP, close() returns once the GOAWAY is sent and the sending side shut; the loop then keeps the socket,
     * reading, until the peer closes too or the linger (a second) runs out, and only then completes
     * closeFuture() and releases the fd: closing with the peer's bytes unread would reset the connection, and
     * the reset may overtake the GOAWAY. Against a raw peer that reads everything but never closes, the linger
     * decides.
     */
    @Test
    void onTcpCloseReturnsOnceTheGoAwayIsSentAndTheSocketIsReleasedAfterThePeersClose() throws Exception {
        java.util.TreeMap<Integer, String> fdsBefore = Leaks.openFds();
        try (NativeSocket listening = NativeSocket.listen(Endpoint.tcp("127.0.0.1", 0).socketAddress(), 8)) {
            Connection connection = client.connect(Endpoint.of(listening.localAddress()), (c, f) -> { });
            try (NativeSocket peer = listening.accept(10_000)) {
                connection.close();
                assertFalse(connection.isOpen());
                assertFalse(connection.closeFuture().isDone(), "released before the peer closed or the linger ran out");
                // The peer sees the GOAWAY, then the end of stream: close() shut our sending side.
                assertEquals(dev.capwire.wire.proto.GoAwayReason.NORMAL_CLOSE,
                        dev.capwire.testing.RawFrames.readGoAway(peer).getReason());
                CloseReason reason = connection.closeFuture().get(10, TimeUnit.SECONDS);
                assertEquals(CloseReason.Kind.LOCAL_CLOSE, reason.kind());
            }
        }
        assertNull(Leaks.fdsLeftOver(fdsBefore));
    }

    /**
     * A Unix socket keeps what was sent readable after the sender closes, so a graceful close with nothing left
     * unread releases the socket at once: closeFuture() is complete when close() returns, and a peer that never
     * closes still reads the GOAWAY and then the end of stream.
     */
    @Test
    void onAUnixSocketAGracefulCloseWithNothingUnreadReleasesTheSocketAtOnce() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("raw"));
        java.util.TreeMap<Integer, String> fdsBefore = Leaks.openFds();
        try (NativeSocket listening = NativeSocket.listen(endpoint.socketAddress(), 8)) {
            Connection connection = client.connect(endpoint, (c, f) -> { });
            try (NativeSocket peer = listening.accept(10_000)) {
                connection.close();
                CloseReason reason = connection.closeFuture().getNow(null);
                assertEquals(CloseReason.Kind.LOCAL_CLOSE, reason == null ? null : reason.kind(),
                        "closed by the time close() returned");
                assertEquals(dev.capwire.wire.proto.GoAwayReason.NORMAL_CLOSE,
                        dev.capwire.testing.RawFrames.readGoAway(peer).getReason());
            }
        } finally {
            Files.deleteIfExists(dir.resolve("raw"));
        }
        assertNull(Leaks.fdsLeftOver(fdsBefore));
    }

    /**
     * Bytes the peer sent that are still unread when a graceful close starts make a Unix socket linger as on
     * TCP: closing then would turn the peer's end of stream into a reset. The client runs in invoker mode and
     * does not poll, so the peer's PING is certainly unread when close() is called; the close must complete only
     * after the peer, which reads the GOAWAY and then waits a little, has closed.
     */
    @Test
    void onAUnixSocketBytesLeftUnreadMakeTheCloseWaitForThePeersClose() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("raw"));
        java.util.TreeMap<Integer, String> fdsBefore = Leaks.openFds();
        ExecutorService peerThread = Executors.newSingleThreadExecutor();
        try (NativeSocket listening = NativeSocket.listen(endpoint.socketAddress(), 8);
                Transport invoker = Transport.create(TransportOptions.builder().eventLoops(0).build())) {
            Connection connection = invoker.connect(endpoint, (c, f) -> { });
            NativeSocket peer = listening.accept(10_000);
            UnsafeBuffer ping = new UnsafeBuffer(ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH + 8));
            FrameHeader.write(ping, 0, FrameHeader.HEADER_LENGTH + 8, FrameType.PING, 0, 0, 0, 0, 0);
            dev.capwire.testing.RawFrames.writeFully(peer, ping.byteBuffer().duplicate().clear());
            Future<Long> peerClosedAt = peerThread.submit(() -> {
                try (peer) {
                    dev.capwire.testing.RawFrames.readGoAway(peer); // returns at the end of stream
                    Thread.sleep(100);
                    return System.nanoTime();
                }
            });
            connection.close(); // invoker mode: runs the loop until the close completes
            long closedAt = System.nanoTime();
            assertEquals(CloseReason.Kind.LOCAL_CLOSE, connection.closeFuture().get(10, TimeUnit.SECONDS).kind());
            assertTrue(closedAt >= peerClosedAt.get(10, TimeUnit.SECONDS), "closed before the peer did");
        } finally {
            peerThread.shutdownNow();
            Files.deleteIfExists(dir.resolve("raw"));
        }
        assertNull(Leaks.fdsLeftOver(fdsBefore));
    }

    /**
     * A listener that closes the connection while a read is delivering frames must leave that read in charge of
     * the stream: the close lingers rather than reading (and decoding) again underneath it, or the decoder's
     * place in the stream would be lost and the frames that follow misread. The peer sends a frame, then
     * another while the listener still handles the first and closes, then a larger one after the close
     * started; the close must still end as a plain local close, not as a malformed stream.
     */
    @Test
    void aListenerClosingDuringTheReadThatDeliversItsFrameLeavesTheStreamIntact() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("raw"));
        AtomicInteger delivered = new AtomicInteger();
        try (NativeSocket listening = NativeSocket.listen(endpoint.socketAddress(), 8)) {
            Connection connection = client.connect(endpoint, (c, frame) -> {
                if (delivered.incrementAndGet() == 1) {
                    try {
                        Thread.sleep(50); // the second frame arrives meanwhile
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    c.close();
                }
            });
            try (NativeSocket peer = listening.accept(10_000)) {
                dev.capwire.testing.RawFrames.writeFully(peer, notify(8));
                Thread.sleep(20);
                dev.capwire.testing.RawFrames.writeFully(peer, notify(8));
                Thread.sleep(100);
                dev.capwire.testing.RawFrames.writeFully(peer, notify(100));
                assertEquals(dev.capwire.wire.proto.GoAwayReason.NORMAL_CLOSE,
                        dev.capwire.testing.RawFrames.readGoAway(peer).getReason());
            }
            assertEquals(CloseReason.Kind.LOCAL_CLOSE, connection.closeFuture().get(10, TimeUnit.SECONDS).kind());
            assertEquals(1, delivered.get(), "frames after the close are not delivered");
        } finally {
            Files.deleteIfExists(dir.resolve("raw"));
        }
    }

    /** A NOTIFY frame whose payload is {@code payloadLength} non-zero bytes. */
    private static ByteBuffer notify(int payloadLength) {
        int length = FrameHeader.HEADER_LENGTH + payloadLength;
        UnsafeBuffer frame = new UnsafeBuffer(ByteBuffer.allocateDirect(length));
        FrameHeader.write(frame, 0, length, FrameType.NOTIFY, 0, 0, 2, 1, 0);
        for (int i = FrameHeader.HEADER_LENGTH; i < length; i++) {
            frame.putByte(i, (byte) 0x5a);
        }
        return frame.byteBuffer().duplicate().clear();
    }

    /** The ring's 256 KiB are allocated on the first send from a thread other than the connection's loop. */
    @Test
    void aConnectionOnlyItsLoopWritesToNeverAllocatesARing() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
        CompletableFuture<Connection> accepted = new CompletableFuture<>();
        server.listen(endpoint, new FrameListener() {
            @Override
            public void onOpen(Connection connection) {
                accepted.complete(connection);
            }

            @Override
            public void onFrame(Connection connection, InboundFrame frame) {
                echo(connection, frame);
            }
        });
        Connection connection = client.connect(endpoint, (c, f) -> { });
        assertFalse(connection.ringAllocated(), "nothing sent yet");
        for (int i = 0; i < 100; i++) {
            connection.call(2, 1, new UnsafeBuffer(new byte[100]), 0, 100, 10_000);
        }
        assertTrue(connection.ringAllocated(), "the requests came from this thread, through the ring");
        assertFalse(accepted.get(10, TimeUnit.SECONDS).ringAllocated(), "the replies came from the server's loop");
    }

    /**
     * Frames a loop sends itself skip the ring while it is empty and go through it behind frames that other
     * threads queued, so each sender's frames must still arrive in the order it sent them. The server's loop
     * answers each notify from the client with a numbered notify (method 1) while a thread of the server sends
     * its own numbered notifies (method 2) on the same connection, so the ring fills and drains under the loop.
     */
    @Test
    void framesFromTheLoopAndFromAnotherThreadEachKeepTheirOrder() throws Exception {
        int count = 20_000;
        int payloadBytes = 1024;
        Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
        CompletableFuture<Connection> accepted = new CompletableFuture<>();
        UnsafeBuffer loopPayload = new UnsafeBuffer(new byte[payloadBytes]);
        server.listen(endpoint, new FrameListener() {
            private long answered;

            @Override
            public void onOpen(Connection connection) {
                accepted.complete(connection);
            }

            @Override
            public void onFrame(Connection connection, InboundFrame frame) {
                loopPayload.putLong(0, answered++);
                connection.sendNotify(2, 1, loopPayload, 0, payloadBytes, 10_000);
            }
        });
        java.util.concurrent.atomic.AtomicLongArray next = new java.util.concurrent.atomic.AtomicLongArray(3);
        java.util.List<String> outOfOrder = new java.util.concurrent.CopyOnWriteArrayList<>();
        Connection connection = client.connect(endpoint, (c, frame) -> {
            int sender = frame.methodId();
            long number = frame.buffer().getLong(frame.payloadOffset());
            if (number != next.get(sender)) {
                outOfOrder.add("method " + sender + ": " + number + " after " + (next.get(sender) - 1));
            }
            next.set(sender, number + 1);
        });
        Connection serverSide = accepted.get(10, TimeUnit.SECONDS);
        Thread producer = new Thread(() -> {
            UnsafeBuffer payload = new UnsafeBuffer(new byte[payloadBytes]);
            for (long i = 0; i < count; i++) {
                payload.putLong(0, i);
                serverSide.sendNotify(2, 2, payload, 0, payloadBytes, 10_000);
            }
        });
        producer.start();
        UnsafeBuffer trigger = new UnsafeBuffer(new byte[8]);
        for (int i = 0; i < count; i++) {
            connection.sendNotify(2, 0, trigger, 0, 8, 10_000);
        }
        producer.join();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while ((next.get(1) < count || next.get(2) < count) && outOfOrder.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(java.util.List.of(), outOfOrder);
        assertEquals(count, next.get(1), "notifies the server's loop sent");
        assertEquals(count, next.get(2), "notifies the server's other thread sent");
    }

    /**
     * Spinning loops with few connections read them directly instead of asking the poller: accepts, big
     * fragmented replies (socket full, write interest), more connections than direct reading serves, and
     * closes seen as end of stream must all still work.
     */
    @Test
    void spinningLoopsServeFewAndManyConnections() throws Exception {
        TransportOptions spin = TransportOptions.builder().idleStrategy("spin").build();
        try (Transport spinningServer = Transport.create(spin); Transport spinningClient = Transport.create(spin)) {
            Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
            spinningServer.listen(endpoint, InProcessEchoTest::echo);
            java.util.List<Connection> connections = new java.util.ArrayList<>();
            byte[] big = new byte[3 << 20];
            new Random(7).nextBytes(big);
            for (int count = 1; count <= ChannelTable.BUSY_POLL_MAX_CONNECTIONS + 2; count++) {
                connections.add(spinningClient.connect(endpoint, (c, f) -> { }));
                for (Connection connection : connections) {
                    Response reply = connection.call(2, 1, new UnsafeBuffer(big), 0, big.length, 10_000);
                    assertArrayEquals(big, reply.payload(), count + " connections");
                }
            }
            for (int i = 0; i < 3; i++) {
                connections.remove(0).close();
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (spinningServer.connectionCount() != connections.size() && System.nanoTime() < deadline) {
                Thread.sleep(5); // the server learns of each close from its end of stream
            }
            assertEquals(connections.size(), spinningServer.connectionCount());
            Response reply = connections.get(0).call(2, 1, new UnsafeBuffer(new byte[] {5}), 0, 1, 10_000);
            assertArrayEquals(new byte[] {5}, reply.payload());
        }
    }

    @Test
    void errorRepliesAndPipelinedRequests() throws Exception {
        Endpoint endpoint = Endpoint.tcp("127.0.0.1", 0);
        Server listening = server.listen(endpoint, InProcessEchoTest::echo);
        Connection connection = client.connect(listening.endpoint(), (c, f) -> { });
        UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
        StatusException error = assertThrows(StatusException.class, () -> connection.call(2, 9, payload, 0, 8, 5000));
        assertEquals(StatusCode.NOT_FOUND, error.code());
        CompletableFuture<?>[] replies = new CompletableFuture<?>[1000];
        for (int i = 0; i < replies.length; i++) {
            UnsafeBuffer numbered = new UnsafeBuffer(new byte[8]);
            numbered.putLong(0, i);
            replies[i] = connection.request(2, 1, numbered, 0, 8);
        }
        for (int i = 0; i < replies.length; i++) {
            Response reply = (Response) replies[i].get(10, TimeUnit.SECONDS);
            assertEquals(i, new UnsafeBuffer(reply.payload()).getLong(0));
        }
        assertTrue(connection.inFlight() == 0);
    }

    @Test
    void gracefulCloseDeliversEverythingQueuedThenGoAway() throws Exception {
        Endpoint endpoint = Endpoint.abstractName("capwire-test-" + ProcessHandle.current().pid());
        java.util.concurrent.atomic.AtomicInteger notifies = new java.util.concurrent.atomic.AtomicInteger();
        CompletableFuture<CloseReason> serverSide = new CompletableFuture<>();
        server.listen(endpoint, new FrameListener() {
            @Override
            public void onFrame(Connection connection, InboundFrame frame) {
                notifies.incrementAndGet();
            }

            @Override
            public void onClose(Connection connection, CloseReason reason) {
                serverSide.complete(reason);
            }
        });
        Connection connection = client.connect(endpoint, (c, f) -> { });
        UnsafeBuffer payload = new UnsafeBuffer(new byte[512]);
        for (int i = 0; i < 1000; i++) {
            connection.sendNotify(2, 1, payload, 0, 512, 5000);
        }
        connection.close();
        assertEquals(CloseReason.Kind.LOCAL_CLOSE, connection.closeFuture().get(5, TimeUnit.SECONDS).kind());
        CloseReason reason = serverSide.get(5, TimeUnit.SECONDS);
        assertEquals(1000, notifies.get(), "every frame queued before close() arrived");
        assertEquals(CloseReason.Kind.REMOTE_CLOSE, reason.kind());
        assertTrue(reason.detail().contains("NORMAL_CLOSE"), reason.detail());
        StatusException afterClose = assertThrows(StatusException.class,
                () -> connection.call(2, 1, payload, 0, 8, 1000));
        assertEquals(StatusCode.UNAVAILABLE, afterClose.code());
        connection.close(); // idempotent
        connection.abort();
    }

    @Test
    void invokerModeRunsOnTheCallersThreadOnly() throws Exception {
        Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
        server.listen(endpoint, InProcessEchoTest::echo);
        java.util.Set<String> threadsBefore = Leaks.capwireThreads();
        try (Transport invoker = Transport.create(TransportOptions.builder().eventLoops(0).build())) {
            assertEquals(threadsBefore, Leaks.capwireThreads(), "invoker mode starts no thread");
            Connection connection = invoker.connect(endpoint, (c, f) -> { });
            UnsafeBuffer payload = new UnsafeBuffer("ping".getBytes());
            // call() drives the loop itself while it waits: nothing else would.
            assertArrayEquals("ping".getBytes(), connection.call(2, 1, payload, 0, 4, 5000).payload());
            CompletableFuture<Response> pending = connection.request(2, 1, payload, 0, 4);
            while (!pending.isDone()) {
                invoker.poll();
            }
            assertArrayEquals("ping".getBytes(), pending.get().payload());
            CompletableFuture<Throwable> fromElsewhere = CompletableFuture.supplyAsync(() -> {
                try {
                    invoker.poll();
                    return null;
                } catch (IllegalStateException expected) {
                    return expected;
                }
            });
            assertTrue(fromElsewhere.get(5, TimeUnit.SECONDS) instanceof IllegalStateException,
                    "poll() from another thread is refused");
        }
    }

    @Test
    void connectionsAreSpreadOverSeveralLoops() throws Exception {
        try (Transport twoLoops = Transport.create(TransportOptions.builder().eventLoops(2).build())) {
            Server listening = twoLoops.listen(Endpoint.tcp("127.0.0.1", 0), new FrameListener() {
                        @Override
                        public void onFrame(Connection connection, InboundFrame frame) {
                            UnsafeBuffer name = new UnsafeBuffer(Thread.currentThread().getName().getBytes());
                            connection.respond(frame.correlationId(), name, 0, name.capacity());
                        }
                    });
            java.util.Set<String> servedBy = new java.util.HashSet<>();
            java.util.List<Connection> connections = new java.util.ArrayList<>();
            UnsafeBuffer payload = new UnsafeBuffer(new byte[1]);
            for (int i = 0; i < 6; i++) {
                Connection connection = client.connect(listening.endpoint(), (c, f) -> { });
                connections.add(connection);
                servedBy.add(new String(connection.call(2, 1, payload, 0, 1, 5000).payload()));
            }
            assertEquals(2, servedBy.size(), "accepted connections land on both loops: " + servedBy);
            assertEquals(6, twoLoops.connectionCount());
            for (Connection connection : connections) {
                connection.close();
            }
        }
    }

    /**
     * Loop work that a caller runs itself when it finds the loop idle (see {@link EventLoop}): that it happens,
     * that a timer it sets still fires on time although the loop's thread was asleep, and that callers and the
     * loop's thread never run loop work at the same moment.
     */
    @Nested
    class CallersRunningLoopWork {
        /**
         * Waits until the loop has just gone to sleep in the poller: awake first, then parked. Its sleep then lasts
         * until its next timer or a second, so whatever the test does next finds it asleep for that long.
         */
        private static void awaitFreshlyParked(EventLoop loop) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            boolean sawAwake = false;
            while (System.nanoTime() < deadline) {
                boolean parked = loop.isParked();
                if (!parked) {
                    sawAwake = true;
                } else if (sawAwake) {
                    Thread.sleep(5); // the flag goes up an instant before the loop lets go of its work
                    return;
                }
                Thread.onSpinWait();
            }
            throw new AssertionError("the loop did not go to sleep within 10 s");
        }

        @Test
        void anAbortOnAnIdleLoopIsRunByTheCaller() throws Exception {
            Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
            server.listen(endpoint, InProcessEchoTest::echo);
            EventLoop loop = client.nextLoop();
            UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
            // The loop wakes once a second to look at its timers; an abort in that instant is queued for it instead,
            // so a few tries allow for that. Without callers running loop work, every try ends on the loop's thread.
            List<String> closedOn = new ArrayList<>();
            for (int attempt = 0; attempt < 5; attempt++) {
                CompletableFuture<Thread> onCloseThread = new CompletableFuture<>();
                Connection connection = client.connect(endpoint, new FrameListener() {
                    @Override
                    public void onFrame(Connection c, InboundFrame frame) {
                    }

                    @Override
                    public void onClose(Connection c, CloseReason reason) {
                        onCloseThread.complete(Thread.currentThread());
                    }
                });
                connection.call(2, 1, payload, 0, 8, 10_000);
                awaitFreshlyParked(loop);
                connection.abort();
                Thread closer = onCloseThread.get(10, TimeUnit.SECONDS);
                closedOn.add(closer.getName());
                if (closer == Thread.currentThread()) {
                    assertEquals(CloseReason.Kind.LOCAL_ABORT, connection.closeFuture().getNow(null).kind());
                    return;
                }
            }
            throw new AssertionError("every abort ran on the loop's thread: " + closedOn);
        }

        /**
         * A caller that opens a connection on a sleeping loop runs its onOpen, which here starts a 100 ms keepalive.
         * The loop's thread, asleep until its next timer or a second from now, must be woken for the new, earlier
         * timer: the first PING is due after 100 ms, not when the loop happens to wake.
         */
        @Test
        void aTimerSetByACallerWakesTheSleepingLoopInTime() throws Exception {
            Endpoint endpoint = Endpoint.unix(dir.resolve("raw"));
            try (NativeSocket listening = NativeSocket.listen(endpoint.socketAddress(), 8)) {
                awaitFreshlyParked(client.nextLoop());
                long connectedAt = System.nanoTime();
                Connection connection = client.connect(endpoint, new FrameListener() {
                    @Override
                    public void onOpen(Connection c) {
                        c.startKeepalive(100, 1000);
                    }

                    @Override
                    public void onFrame(Connection c, InboundFrame frame) {
                    }
                });
                try (NativeSocket peer = listening.accept(10_000)) {
                    byte type = readFrameType(peer);
                    long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - connectedAt);
                    assertEquals(FrameType.PING, type);
                    // 100 ms expected; a loop left asleep would send it only when its second is up.
                    assertTrue(elapsedMs < 700, "the first PING came " + elapsedMs + " ms after the connect");
                    connection.abort();
                }
            } finally {
                Files.deleteIfExists(dir.resolve("raw"));
            }
        }

        /** The type of the next frame the raw peer reads (its payload is skipped). */
        private static byte readFrameType(NativeSocket peer) throws Exception {
            ByteBuffer header = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (header.hasRemaining()) {
                assertTrue(System.nanoTime() < deadline, "no frame within 10 s");
                if (peer.read(header) == 0) {
                    peer.fd().awaitReadable(100);
                }
            }
            return new UnsafeBuffer(header).getByte(FrameHeader.TYPE_OFFSET);
        }

        /**
         * Threads open, call over and close (or abort) connections on one client loop while the loop's thread
         * serves the replies and the closes, so loop work is taken by callers and by the loop's thread in every
         * interleaving. The listener's callbacks must never overlap (only one thread does a loop's work at a time),
         * every call must be answered, and every connection and fd must be gone at the end.
         */
        @Test
        void callersAndTheLoopThreadNeverWorkTheLoopAtOnce() throws Exception {
            Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
            server.listen(endpoint, InProcessEchoTest::echo);
            java.util.TreeMap<Integer, String> fdsBefore = Leaks.openFds();
            AtomicInteger inside = new AtomicInteger();
            AtomicInteger overlaps = new AtomicInteger();
            AtomicInteger opened = new AtomicInteger();
            AtomicInteger closed = new AtomicInteger();
            FrameListener watching = new FrameListener() {
                private void enter() {
                    if (inside.incrementAndGet() != 1) {
                        overlaps.incrementAndGet();
                    }
                    for (int i = 0; i < 200; i++) {
                        Thread.onSpinWait(); // widens the window another thread would have to hit
                    }
                    inside.decrementAndGet();
                }

                @Override
                public void onOpen(Connection connection) {
                    enter();
                    opened.incrementAndGet();
                }

                @Override
                public void onFrame(Connection connection, InboundFrame frame) {
                    enter();
                }

                @Override
                public void onClose(Connection connection, CloseReason reason) {
                    enter();
                    closed.incrementAndGet();
                }
            };
            int threads = 6;
            int rounds = 150;
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int thread = t;
                    done.add(pool.submit(() -> {
                        UnsafeBuffer payload = new UnsafeBuffer(new byte[16]);
                        for (int round = 0; round < rounds; round++) {
                            Connection connection = client.connect(endpoint, watching);
                            payload.putInt(0, thread);
                            payload.putInt(4, round);
                            Response reply = connection.call(2, 1, payload, 0, 16, 10_000);
                            assertEquals(round, new UnsafeBuffer(reply.payload()).getInt(4));
                            if (round % 3 == 0) {
                                connection.abort();
                            } else {
                                connection.close();
                            }
                            if (round % 10 == 0) {
                                Thread.sleep(2); // long enough for the loop to go idle, now and then
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> future : done) {
                    future.get(120, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while ((client.connectionCount() != 0 || server.connectionCount() != 0) && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(0, overlaps.get(), "callbacks of one loop ran at the same time");
            assertEquals(threads * rounds, opened.get());
            assertEquals(threads * rounds, closed.get());
            assertEquals(0, client.connectionCount());
            assertEquals(0, server.connectionCount());
            assertNull(Leaks.fdsLeftOver(fdsBefore));
        }
    }
}
