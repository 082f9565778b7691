package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.testing.RawFrames;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A peer that stops reading, or a full ring in the middle of a message, is backpressure on that one connection
 * (issue "Transport, part 3", items 2, 9 and 10): the server, in a child JVM with one event loop, goes on
 * serving everyone else, and a connection whose peer reads nothing at all ends after the stall timeout.
 */
class SlowPeerAcrossProcessesTest {
    private static final int FLOOD_PAYLOAD = 32 * 1024;
    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cws");

    private static ChildJvm echoServer(String endpoint, String... jvmArgs) throws Exception {
        ChildJvm child = ChildJvm.start(EchoServerMain.class, List.of(jvmArgs), endpoint);
        child.expect("READY", 30);
        return child;
    }

    /**
     * Writes echo requests of 32 KiB without ever reading a reply, until the socket has taken nothing for two
     * seconds (the server stopped reading us) or the server closed; returns the bytes written.
     */
    private static long floodWithoutReading(NativeSocket raw) throws Exception {
        return floodWithoutReading(raw, Long.MAX_VALUE);
    }

    /** The same, stopping after about {@code maxBytes}. */
    private static long floodWithoutReading(NativeSocket raw, long maxBytes) throws Exception {
        ByteBuffer frame = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH + FLOOD_PAYLOAD)
                .order(ByteOrder.LITTLE_ENDIAN);
        UnsafeBuffer view = new UnsafeBuffer(frame);
        long written = 0;
        long correlationId = 1;
        int quietRounds = 0;
        while (quietRounds < 20 && written < maxBytes) {
            FrameHeader.write(view, 0, frame.capacity(), FrameType.REQUEST, 0, correlationId++, 2, 0, 0);
            frame.clear();
            while (frame.hasRemaining()) {
                int n;
                try {
                    n = raw.write(frame);
                } catch (dev.capwire.bindings.NativeIoException.PeerGoneException closed) {
                    return written; // the server gave up on us already (the stall test's point)
                }
                if (n == 0) {
                    // Full: the server is not reading. Wait a little; a whole frame must go out before the next.
                    if (!raw.fd().awaitWritable(100)) {
                        quietRounds++;
                        if (quietRounds >= 20) {
                            break;
                        }
                    }
                } else {
                    written += n;
                    quietRounds = 0;
                }
            }
        }
        return written;
    }

    private static void assertRoundTrips(Connection connection, int count) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[64]);
        for (int i = 0; i < count; i++) {
            payload.putInt(0, i);
            Response reply = connection.call(2, 0, payload, 0, 64, 5_000);
            assertEquals(i, new UnsafeBuffer(reply.payload()).getInt(0));
        }
    }

    @Test
    void aPeerThatStopsReadingLeavesOtherClientsAndNewConnectionsUnaffected() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("flood.sock");
        try (ChildJvm server = echoServer(endpoint.toString());
                Transport transport = Transport.create(TransportOptions.defaults());
                Connection bystander = transport.connect(endpoint, (c, f) -> { });
                NativeSocket flooder = NativeSocket.connect(endpoint.socketAddress(), 5_000)) {
            long written = floodWithoutReading(flooder);
            assertTrue(written > (1 << 19), "the server read " + written + " bytes before pushing back");
            // The server's only loop owes the flooder megabytes it will not read; everyone else is served.
            assertRoundTrips(bystander, 200);
            try (Connection fresh = transport.connect(endpoint, (c, f) -> { })) {
                assertRoundTrips(fresh, 20);
            }
        }
    }

    @Test
    void aPeerThatReadsNothingIsClosedAfterTheStallTimeout() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("stall.sock");
        try (ChildJvm server = echoServer(endpoint.toString(), "-Dcapwire.sendStallTimeoutMs=500");
                Transport transport = Transport.create(TransportOptions.defaults());
                Connection bystander = transport.connect(endpoint, (c, f) -> { });
                NativeSocket flooder = NativeSocket.connect(endpoint.socketAddress(), 5_000)) {
            floodWithoutReading(flooder);
            // Past the stall timeout the server gives up on us: reading now finds the end of the stream (or the
            // reset of a close with our requests unread) instead of replies that go on for ever.
            Thread.sleep(1_500);
            RawFrames.readToEnd(flooder);
            assertRoundTrips(bystander, 20);
        }
    }

    /**
     * A 1 MiB request with a 1 ms deadline, among 100 small requests in flight: its deadline passes while its
     * fragments are queued, and only it may fail. Once that aborted the whole connection, failing the other 100.
     */
    @Test
    void aDeadlineThatPassesMidMessageFailsOnlyThatRequest() throws Exception {
        for (String kind : new String[] {"unix", "tcp"}) {
            String requested = kind.equals("unix") ? SOCKETS.endpoint("frag.sock").toString()
                    : "tcp:127.0.0.1:0";
            try (ChildJvm server = echoServer(requested);
                    Transport transport = Transport.create(TransportOptions.defaults())) {
                Endpoint endpoint = Endpoint.parse(server.transcript().get(server.transcript().size() - 1)
                        .substring("READY".length()).trim());
                Connection connection = transport.connect(endpoint, (c, f) -> { });
                UnsafeBuffer big = new UnsafeBuffer(new byte[1 << 20]);
                UnsafeBuffer small = new UnsafeBuffer(new byte[8]);
                for (int round = 0; round < 5; round++) {
                    List<CompletableFuture<Response>> others = new ArrayList<>();
                    for (int i = 0; i < 100; i++) {
                        others.add(connection.request(2, 0, small, 0, 8, 30_000));
                    }
                    CompletableFuture<Response> hurried = connection.request(2, 0, big, 0, big.capacity(), 1);
                    for (CompletableFuture<Response> other : others) {
                        assertArrayEquals(new byte[8], other.get(30, TimeUnit.SECONDS).payload(), kind);
                    }
                    try {
                        assertEquals(1 << 20, hurried.get(30, TimeUnit.SECONDS).payload().length);
                    } catch (ExecutionException e) {
                        StatusCode code = ((StatusException) e.getCause()).code();
                        assertTrue(code == StatusCode.DEADLINE_EXCEEDED || code == StatusCode.RESOURCE_EXHAUSTED,
                                kind + ": " + e.getCause());
                    }
                    assertTrue(connection.isOpen(), kind + " round " + round + ": the connection survives");
                }
                assertRoundTrips(connection, 10);
                connection.close();
            }
        }
    }

    /**
     * Item 10: respond() from an application thread (a shared executor) to a client that stops reading once
     * spun for up to the request timeout, 30 s, per reply; it now fails RESOURCE_EXHAUSTED after sendTimeoutMs,
     * parking meanwhile, and the executor is free again.
     */
    @Test
    void aRespondFromAnExecutorGivesUpAfterTheSendTimeout() throws Exception {
        Endpoint endpoint = SOCKETS.endpoint("executor.sock");
        java.util.concurrent.ExecutorService executor = java.util.concurrent.Executors.newSingleThreadExecutor();
        List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        UnsafeBuffer reply = new UnsafeBuffer(new byte[FLOOD_PAYLOAD]);
        try (Transport transport = Transport.create(TransportOptions.builder().sendTimeoutMs(200).build())) {
            transport.listen(endpoint, (connection, frame) -> {
                long id = frame.correlationId();
                executor.execute(() -> {
                    try {
                        connection.respond(id, reply, 0, reply.capacity());
                    } catch (StatusException e) {
                        failures.add(e);
                    }
                });
            });
            try (NativeSocket raw = NativeSocket.connect(endpoint.socketAddress(), 5_000)) {
                // Replies go through the ring from the executor's thread, so the server keeps reading: 8 MiB of
                // requests is far more than its socket and ring can hold of replies.
                floodWithoutReading(raw, 8 << 20);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (failures.isEmpty() && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertTrue(!failures.isEmpty(), "no respond() gave up within 10 s");
                StatusException first = (StatusException) failures.get(0);
                assertEquals(StatusCode.RESOURCE_EXHAUSTED, first.code(), first.getMessage());
            }
        } finally {
            executor.shutdownNow();
            assertTrue(executor.awaitTermination(10, TimeUnit.SECONDS), "the executor's thread is not stuck");
        }
    }
}
