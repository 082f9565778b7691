package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.capwire.wire.FrameType;
import java.nio.file.Files;
import java.nio.file.Path;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A send that fails on the caller's own mistake (a payload shorter than the length it names) fails alone: it gives
 * back what it took on the way, so the connection goes on serving every other sender. Before the fix, the failed
 * frame kept its ring record claimed, and every frame any application thread queued behind it waited for good:
 * the test failed every run (3 of 3); after it, none.
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
}
