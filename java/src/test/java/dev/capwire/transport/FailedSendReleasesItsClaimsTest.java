package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.capwire.wire.FrameType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A send that fails on the caller's own mistake (a payload shorter than the length it names) fails alone: it gives
 * back what it took on the way, so the connection goes on serving every other sender. Before the fixes, the first
 * test's failed frame kept its ring record claimed, and every frame any application thread queued behind it waited
 * for good (3 of 3 runs failed); the second test's request kept its in-flight slot for good, and its handler would
 * later have been told of a request whose caller had got the exception (3 of 3 runs failed). After them, none.
 */
class FailedSendReleasesItsClaimsTest {
    private Path dir;
    private Transport server;
    private Transport client;
    private Connection connection;

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cw");
        server = Transport.create(TransportOptions.defaults());
        client = Transport.create(TransportOptions.builder().maxInFlight(1).build());
        Endpoint endpoint = Endpoint.unix(dir.resolve("s"));
        server.listen(endpoint, (c, frame) -> {
            if (frame.type() == FrameType.REQUEST) {
                c.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength());
            }
        });
        connection = client.connect(endpoint, (c, f) -> { });
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.close();
        Files.deleteIfExists(dir.resolve("s"));
        Files.deleteIfExists(dir);
    }

    @Test
    void aFrameThatFailsAfterItsClaimDoesNotHoldUpTheRing() {
        UnsafeBuffer shorter = new UnsafeBuffer(new byte[8]);
        assertThrows(IndexOutOfBoundsException.class, () -> connection.offerNotify(1, 1, shorter, 0, 16));
        byte[] bytes = {1, 2, 3, 4, 5, 6, 7, 8};
        Response reply = connection.call(1, 1, new UnsafeBuffer(bytes), 0, bytes.length, 5_000);
        assertArrayEquals(bytes, reply.payload());
    }

    @Test
    void aRequestThatFailsToSendGivesItsSlotBackAndItsHandlerNeverHears() {
        AtomicInteger heard = new AtomicInteger();
        ReplyHandler counting = new ReplyHandler() {
            @Override
            public void onReply(long id, InboundFrame reply) {
                heard.incrementAndGet();
            }

            @Override
            public void onFailure(long id, StatusException failure) {
                heard.incrementAndGet();
            }
        };
        UnsafeBuffer shorter = new UnsafeBuffer(new byte[8]);
        assertThrows(IndexOutOfBoundsException.class,
                () -> connection.request(1, 1, shorter, 0, 16, 5_000, counting));
        assertEquals(0, connection.inFlight(), "the failed request's slot");
        byte[] bytes = {1, 2, 3, 4, 5, 6, 7, 8};
        Response reply = connection.call(1, 1, new UnsafeBuffer(bytes), 0, bytes.length, 5_000);
        assertArrayEquals(bytes, reply.payload());
        client.close(); // fails whatever is still in flight: a handler the table kept would hear of it now
        assertEquals(0, heard.get(), "the handler of a request whose caller got the exception");
    }
}
