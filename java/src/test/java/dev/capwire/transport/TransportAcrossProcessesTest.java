package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.testing.Leaks;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The transport with its far end in a child JVM: real processes, real sockets, real fds. */
class TransportAcrossProcessesTest {
    private static final int MIB = 1 << 20;
    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cwt");

    private static Endpoint endpoint(String name) {
        return SOCKETS.endpoint(name);
    }

    private static ChildJvm echoServer(Endpoint endpoint) throws Exception {
        ChildJvm child = ChildJvm.start(EchoServerMain.class, endpoint.toString());
        child.expect("READY", 30);
        return child;
    }

    /** Checks NOTIFY messages arrive as Payloads generates them: in order, once each, byte for byte. */
    private static final class InOrderVerifier implements FrameListener {
        final AtomicLong received = new AtomicLong();
        final AtomicReference<String> problem = new AtomicReference<>();
        private final UnsafeBuffer expected;
        private final int maxSize;

        InOrderVerifier(int maxSize) {
            this.maxSize = maxSize;
            this.expected = new UnsafeBuffer(ByteBuffer.allocateDirect(maxSize));
        }

        @Override
        public void onFrame(Connection connection, InboundFrame frame) {
            long seq = received.get();
            int size = Payloads.fill(expected, 0, seq, maxSize);
            if (frame.type() != FrameType.NOTIFY || frame.payloadLength() != size
                    || !sameBytes(frame, size)) {
                problem.compareAndSet(null, "message " + seq + ": got type " + frame.type() + " length "
                        + frame.payloadLength() + ", expected " + size + " bytes of message " + seq);
            }
            received.incrementAndGet();
        }

        private boolean sameBytes(InboundFrame frame, int size) {
            return Payloads.checksum(frame.buffer(), frame.payloadOffset(), size)
                    == Payloads.checksum(expected, 0, size);
        }

        void awaitCount(long count, long timeoutSeconds) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
            while (received.get() < count && problem.get() == null && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertNull(problem.get());
            assertEquals(count, received.get(), "messages received");
        }
    }

    @Test
    void aMillionMessagesOfMixedSizesComeBackInOrderExactlyOnce() throws Exception {
        int count = 1_000_000;
        Endpoint endpoint = endpoint("million");
        InOrderVerifier verifier = new InOrderVerifier(MIB);
        try (ChildJvm child = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults())) {
            Connection connection = transport.connect(endpoint, verifier);
            UnsafeBuffer payload = new UnsafeBuffer(ByteBuffer.allocateDirect(MIB));
            for (long seq = 0; seq < count; seq++) {
                int size = Payloads.fill(payload, 0, seq, MIB);
                connection.sendNotify(2, 1, payload, 0, size, 30_000);
            }
            verifier.awaitCount(count, 180);
            connection.close();
        }
    }

    @Test
    void framesWrittenOneBytePerSyscallAreDecodedWhole() throws Exception {
        int count = 1500;
        int maxSize = 4096;
        Endpoint endpoint = endpoint("bytewise");
        InOrderVerifier verifier = new InOrderVerifier(maxSize);
        try (Transport transport = Transport.create(TransportOptions.defaults());
                Server server = transport.listen(endpoint, verifier);
                ChildJvm writer = ChildJvm.start(RawFrameWriterMain.class, server.endpoint().toString(),
                        Integer.toString(count), Integer.toString(maxSize))) {
            writer.expect("DONE", 120);
            verifier.awaitCount(count, 30);
        }
    }

    @Test
    void eightThreadsOnOneConnectionEachGetTheirOwnReplies() throws Exception {
        Endpoint endpoint = endpoint("threads");
        ExecutorService threads = Executors.newFixedThreadPool(8);
        try (ChildJvm child = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults())) {
            Connection connection = transport.connect(endpoint, (c, f) -> { });
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                done.add(threads.submit(() -> {
                    UnsafeBuffer payload = new UnsafeBuffer(new byte[16]);
                    for (int i = 0; i < 5000; i++) {
                        payload.putInt(0, thread);
                        payload.putInt(4, i);
                        payload.putLong(8, Thread.currentThread().getId());
                        byte[] sent = payload.byteArray().clone();
                        Response reply = connection.call(2, 1, payload, 0, 16, 10_000);
                        assertArrayEquals(sent, reply.payload(), "thread " + thread + " request " + i);
                    }
                    return null;
                }));
            }
            for (Future<?> future : done) {
                future.get(120, TimeUnit.SECONDS);
            }
            assertEquals(0, connection.inFlight());
            connection.close();
        } finally {
            threads.shutdownNow();
        }
    }

    @Test
    void aKilledServerFailsPendingRequestsWithUnavailable() throws Exception {
        Endpoint endpoint = endpoint("killed");
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            ChildJvm child = echoServer(endpoint);
            Connection connection = transport.connect(endpoint, (c, f) -> { });
            List<CompletableFuture<Response>> pending = new ArrayList<>();
            UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
            for (int i = 0; i < 100; i++) {
                pending.add(connection.request(2, EchoServerMain.METHOD_HOLD, payload, 0, 8, 60_000));
            }
            assertEquals(100, connection.inFlight());
            child.kill();
            for (CompletableFuture<Response> request : pending) {
                ExecutionException failure = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                        () -> request.get(30, TimeUnit.SECONDS));
                StatusException status = (StatusException) failure.getCause();
                assertEquals(StatusCode.UNAVAILABLE, status.code());
                assertTrue(status.getMessage().contains("closed"), status.getMessage());
            }
            assertEquals(0, connection.inFlight());
            assertEquals(CloseReason.Kind.REMOTE_CLOSE, connection.closeFuture().get(10, TimeUnit.SECONDS).kind());
        }
    }

    @Test
    void aClientKilledMidStreamLeavesTheServerServingOthers() throws Exception {
        Endpoint endpoint = endpoint("survivor");
        List<CloseReason> closes = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (Transport transport = Transport.create(TransportOptions.defaults());
                Server server = transport.listen(endpoint, new FrameListener() {
                    @Override
                    public void onFrame(Connection connection, InboundFrame frame) {
                        EchoServerMain.echo(connection, frame);
                    }

                    @Override
                    public void onClose(Connection connection, CloseReason reason) {
                        closes.add(reason);
                    }
                });
                ChildJvm victim = ChildJvm.start(EchoClientMain.class, server.endpoint().toString());
                ChildJvm survivor = ChildJvm.start(EchoClientMain.class, server.endpoint().toString())) {
            victim.expect("OK", 30);
            survivor.expect("OK", 30);
            victim.kill();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (closes.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(1, closes.size(), "exactly the killed client's connection closed");
            assertEquals(CloseReason.Kind.REMOTE_CLOSE, closes.get(0).kind());
            long before = Long.parseLong(survivor.expect("OK", 30));
            long after = Long.parseLong(survivor.expect("OK", 30));
            assertTrue(after > before, "the other client keeps getting replies");
            assertEquals(1, transport.connectionCount());
        }
    }

    @Test
    void aPeerThatStopsReadingIsBackpressureNotMemory() throws Exception {
        Endpoint endpoint = endpoint("slow");
        CompletableFuture<Connection> accepted = new CompletableFuture<>();
        int ringBytes = 1 << 20;
        TransportOptions options = TransportOptions.builder().ringBytes(ringBytes).build();
        try (Transport transport = Transport.create(options);
                Server server = transport.listen(endpoint, new FrameListener() {
                    @Override
                    public void onOpen(Connection connection) {
                        accepted.complete(connection);
                    }

                    @Override
                    public void onFrame(Connection connection, InboundFrame frame) {
                    }
                });
                // Writes no frames and never reads: a stuck peer.
                ChildJvm stuck = ChildJvm.start(RawFrameWriterMain.class, server.endpoint().toString(), "0", "1")) {
            stuck.expect("DONE", 30);
            Connection connection = accepted.get(10, TimeUnit.SECONDS);
            UnsafeBuffer payload = new UnsafeBuffer(ByteBuffer.allocateDirect(4096));
            // Offer for a second: the ring fills, the kernel's socket buffers take what they take, and then
            // every offer is refused. What was accepted is bounded by the ring plus the kernel's buffers.
            long offered = 0;
            int refusedInARow = 0;
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
            while (System.nanoTime() < until) {
                if (connection.offerNotify(2, 1, payload, 0, 4096)) {
                    offered += 4096;
                    refusedInARow = 0;
                } else {
                    refusedInARow++;
                    Thread.sleep(1);
                }
            }
            assertTrue(refusedInARow > 100, "offers kept being accepted for a peer that reads nothing");
            assertTrue(offered < ringBytes + 64 * MIB, "accepted " + offered + " bytes for a peer that reads nothing");
            StatusException timedOut = org.junit.jupiter.api.Assertions.assertThrows(StatusException.class,
                    () -> connection.sendNotify(2, 1, payload, 0, 4096, 200));
            assertEquals(StatusCode.RESOURCE_EXHAUSTED, timedOut.code());
        }
    }

    @Test
    void fdsRideWithTheirOwnFramesUnderLoad() throws Exception {
        Endpoint endpoint = endpoint("fds");
        try (ChildJvm child = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults())) {
            Connection connection = transport.connect(endpoint, (c, f) -> { });
            int count = 1000; // within capwire.maxInFlight: all in flight at once
            List<CompletableFuture<Response>> replies = new ArrayList<>();
            List<FileDescriptor[]> pipes = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
                payload.putInt(0, i);
                if (i % 3 == 0) {
                    FileDescriptor[] pipe = FileDescriptor.pipe();
                    pipes.add(pipe);
                    payload.putInt(4, 1);
                    replies.add(connection.request(2, 1, payload, 0, 8, 30_000, pipe[1]));
                    pipe[1].close(); // the request carries its own duplicate
                } else {
                    pipes.add(null);
                    replies.add(connection.request(2, 1, payload, 0, 8, 30_000));
                }
            }
            ByteBuffer bytes = ByteBuffer.allocateDirect(4);
            for (int i = 0; i < count; i++) {
                Response reply = replies.get(i).get(60, TimeUnit.SECONDS);
                FileDescriptor[] pipe = pipes.get(i);
                assertEquals(pipe == null ? 0 : 1, reply.fds().length, "fds with reply " + i);
                if (pipe != null) {
                    // Prove it is this request's pipe: write through the returned fd, read from our read end.
                    try (FileDescriptor writeEnd = reply.fds()[0]; FileDescriptor readEnd = pipe[0]) {
                        bytes.clear().putInt(0, i);
                        assertEquals(4, writeEnd.write(bytes));
                        bytes.clear();
                        assertTrue(readEnd.awaitReadable(5000));
                        assertEquals(4, readEnd.read(bytes));
                        assertEquals(i, bytes.getInt(0));
                    }
                }
            }
            connection.close();
        }
    }

    @Test
    void tenThousandConnectCloseCyclesLeaveNothingBehind() throws Exception {
        Endpoint endpoint = endpoint("cycles");
        try (ChildJvm child = echoServer(endpoint);
                Transport transport = Transport.create(TransportOptions.defaults())) {
            TreeMap<Integer, String> fds = Leaks.openFds();
            Set<String> threads = Leaks.capwireThreads();
            UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
            for (int i = 0; i < 10_000; i++) {
                Connection connection = transport.connect(endpoint, (c, f) -> { });
                if (i % 1000 == 0) {
                    connection.call(2, 1, payload, 0, 8, 10_000);
                }
                connection.close();
            }
            assertNull(Leaks.fdsLeftOver(fds), "fds left after 10,000 cycles");
            assertNull(Leaks.threadsLeftOver(threads), "threads left after 10,000 cycles");
            assertEquals(0, transport.connectionCount());
        }
    }

    @Test
    void requestsPastTheInFlightLimitFailResourceExhausted() throws Exception {
        Endpoint endpoint = endpoint("limit");
        TransportOptions options = TransportOptions.builder().maxInFlight(16).build();
        try (ChildJvm child = echoServer(endpoint); Transport transport = Transport.create(options)) {
            Connection connection = transport.connect(endpoint, (c, f) -> { });
            UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
            List<CompletableFuture<Response>> held = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                held.add(connection.request(2, EchoServerMain.METHOD_HOLD, payload, 0, 8, 300));
            }
            CompletableFuture<Response> refused = connection.request(2, 1, payload, 0, 8, 5000);
            ExecutionException failure = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                    () -> refused.get(5, TimeUnit.SECONDS));
            assertEquals(StatusCode.RESOURCE_EXHAUSTED, ((StatusException) failure.getCause()).code());
            for (CompletableFuture<Response> request : held) {
                ExecutionException expired = org.junit.jupiter.api.Assertions.assertThrows(
                        ExecutionException.class, () -> request.get(10, TimeUnit.SECONDS));
                assertEquals(StatusCode.DEADLINE_EXCEEDED, ((StatusException) expired.getCause()).code());
            }
            assertEquals(0, connection.inFlight());
            Response after = connection.call(2, 1, payload, 0, 8, 5000);
            assertEquals(8, after.payload().length, "the connection still works after deadlines fired");
            connection.close();
        }
    }
}
