package dev.capwire.rpc;

import static dev.capwire.rpc.RpcTestClient.sleepQuietly;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.rpc.testing.TailRequest;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A server stream's credit and its failure, against a child JVM ({@link RpcServerMain}): the caller's
 * {@code initialCredit} bounds how far the producer runs ahead, and a producer that throws part way ends the stream
 * with INTERNAL after the items it sent, the connection carrying on.
 */
class RpcStreamsAcrossProcessesTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwstream");

    /**
     * With a credit of 4 the endless producer is at most 4 items ahead of what the consumer took: the consumer
     * stops at its 10th item, after holding the first for 300 ms, and the producer has sent at most 14. With the
     * default 32 it would have sent 32 while the consumer held the first.
     */
    @Test
    void theCallersInitialCreditBoundsHowFarTheProducerRunsAhead() throws Exception {
        try (ServerAndClient peers = new ServerAndClient(new RpcTestClient(options -> options.initialCredit(4)), DIR)) {
            RemoteFiles files = peers.peer.bootstrap(RemoteFiles.class);
            List<Integer> seen = new ArrayList<>();
            RuntimeException enough = new IllegalStateException("enough");
            RuntimeException thrown = assertThrows(RuntimeException.class, () -> files.tail(TailRequest.newBuilder()
                    .setLines(0).build(), line -> {
                        seen.add(line.getNumber());
                        if (seen.size() == 1) {
                            sleepQuietly(300);
                        }
                        if (seen.size() == 10) {
                            throw enough;
                        }
                    }));
            assertSame(enough, thrown);
            String stopped = peers.server.expect("STREAM-STOPPED", 10);
            int produced = Integer.parseInt(stopped.split(" ")[0]);
            assertTrue(produced >= 10 && produced <= 10 + 4, "produced " + produced + " with a credit of 4");
            assertTrue(stopped.endsWith("CANCELLED call.cancelled"), stopped);
        }
    }

    @Test
    void aProducerThatThrowsPartWayEndsTheStreamWithInternalAfterItsItems() throws Exception {
        try (ServerAndClient peers = new ServerAndClient(DIR)) {
            RemoteFiles files = peers.peer.bootstrap(RemoteFiles.class);
            List<Integer> seen = new ArrayList<>();
            StatusException failed = assertThrows(StatusException.class, () -> files.tail(TailRequest.newBuilder()
                    .setLines(0).setFailAfter(5).build(), line -> seen.add(line.getNumber())));
            assertEquals(StatusCode.INTERNAL, failed.code());
            assertEquals("handler.failed", failed.reason());
            assertEquals(List.of(1, 2, 3, 4, 5), seen, "every item sent before the failure, and no more");
            assertEquals("5 INTERNAL", peers.server.expect("STREAM-END", 10));
            assertEquals(0, peers.peer.openStreams());
            assertArrayEquals(new byte[] {6}, files.echo(new byte[] {6}), "the connection carries on");
        }
    }
}
