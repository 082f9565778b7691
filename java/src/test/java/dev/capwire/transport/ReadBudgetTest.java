package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

/**
 * Fairness within one loop: a connection whose peer keeps its socket full gets at most
 * {@link InboundPath#READ_BUDGET_BYTES} read in one pass of the loop, so a connection beside it is served in the
 * same pass instead of after everything the busy one had queued.
 */
class ReadBudgetTest {
    private static final int FRAME = 88; // 64-byte payloads, as the benchmarks send

    @Test
    void aFullSocketGetsOneBudgetPerPassAndItsNeighbourIsServedInTheSamePass() throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "cw");
        Endpoint endpoint = Endpoint.unix(dir.resolve("raw"));
        long[] busyFrames = new long[1];
        long[] quietFrames = new long[1];
        try (NativeSocket listening = NativeSocket.listen(endpoint.socketAddress(), 8);
                Transport invoker = Transport.create(TransportOptions.builder().eventLoops(0).build())) {
            Connection busy = invoker.connect(endpoint, (c, frame) -> busyFrames[0]++);
            try (NativeSocket busyPeer = listening.accept(10_000)) {
                Connection quiet = invoker.connect(endpoint, (c, frame) -> quietFrames[0]++);
                try (NativeSocket quietPeer = listening.accept(10_000)) {
                    for (int i = 0; i < 10; i++) {
                        invoker.poll(); // both connections opened, nothing to read yet
                    }
                    // The busy peer fills its socket (as much as the kernel takes), the quiet one sends one frame.
                    ByteBuffer frames = ByteBuffer.allocateDirect(FRAME * 1024);
                    UnsafeBuffer view = new UnsafeBuffer(frames);
                    for (int at = 0; at < frames.capacity(); at += FRAME) {
                        FrameHeader.write(view, at, FRAME, FrameType.NOTIFY, 0, 0, 2, 1, 0);
                    }
                    long queued = 0;
                    for (int written; (written = busyPeer.write(frames.clear())) > 0;) {
                        queued += written;
                        if (written < frames.capacity()) {
                            break;
                        }
                    }
                    assertTrue(queued > 2L * InboundPath.READ_BUDGET_BYTES,
                            "the socket took only " + queued + " bytes; the test needs more than two budgets");
                    dev.capwire.testing.RawFrames.writeFully(quietPeer, frames.clear().limit(FRAME));

                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                    while (quietFrames[0] == 0 && System.nanoTime() < deadline) {
                        invoker.poll();
                    }
                    assertEquals(1, quietFrames[0], "the quiet connection's frame was not delivered");
                    // Whatever pass delivered it read at most one budget of the busy socket (and perhaps the pass
                    // before it, had the quiet frame not been there yet: two budgets).
                    assertTrue(busyFrames[0] * FRAME <= 2L * InboundPath.READ_BUDGET_BYTES,
                            busyFrames[0] + " busy frames were delivered before the quiet connection's one");
                    // Nothing is lost: the rest arrives in the passes that follow, one budget at most each.
                    long expected = queued / FRAME;
                    while (busyFrames[0] < expected && System.nanoTime() < deadline) {
                        long before = busyFrames[0];
                        invoker.poll();
                        assertTrue((busyFrames[0] - before) * FRAME <= InboundPath.READ_BUDGET_BYTES + FRAME,
                                (busyFrames[0] - before) + " frames in one pass");
                    }
                    assertEquals(expected, busyFrames[0]);
                    busy.abort("done");
                    quiet.abort("done");
                }
            }
        } finally {
            Files.deleteIfExists(dir.resolve("raw"));
            Files.deleteIfExists(dir);
        }
    }
}
