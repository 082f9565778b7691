package dev.capwire.bench;

import dev.capwire.wire.ClaimedFds;
import dev.capwire.wire.FrameDecoder;
import dev.capwire.wire.FrameHandler;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAwayReason;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.collections.LongArrayQueue;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The receiving side's decoding alone, in one thread and one process, so that the figure does not depend on how
 * busy the host is: a 64 KiB "read" of 744 NOTIFY frames of 88 bytes (64-byte payloads) is copied into a receive
 * buffer and decoded in place by {@link FrameDecoder}, whose handler reads each frame's cap id and first payload
 * word. Prints nanoseconds per frame, copy included, for each of 8 rounds of 20,000 reads (the first rounds are
 * the compiler's warm-up).
 *
 * <pre>
 * java --add-opens java.base/jdk.internal.misc=ALL-UNNAMED -cp bench/target/benchmarks.jar dev.capwire.bench.DecoderCost
 * </pre>
 */
public final class DecoderCost {
    private static final int FRAME = 88;
    private static final int READS = 20_000;
    private static long sink;

    private DecoderCost() {
    }

    public static void main(String[] args) {
        UnsafeBuffer receive = new UnsafeBuffer(BufferUtil.allocateDirectAligned(128 * 1024, 64));
        UnsafeBuffer read = new UnsafeBuffer(BufferUtil.allocateDirectAligned(64 * 1024, 64));
        int frames = read.capacity() / FRAME;
        for (int i = 0; i < frames; i++) {
            FrameHeader.write(read, i * FRAME, FRAME, FrameType.NOTIFY, 0, 0, 7, 3, 0);
        }
        int bytes = frames * FRAME;
        FrameHandler handler = new FrameHandler() {
            @Override
            public void onFrame(FrameHeader header, DirectBuffer buffer, int offset, int length, ClaimedFds fds) {
                sink += header.capId() + length + buffer.getLong(offset);
            }

            @Override
            public void onError(GoAwayReason reason, String message) {
                throw new IllegalStateException(message);
            }
        };
        FrameDecoder decoder = new FrameDecoder(receive, 64 * 1024, 1 << 20, true, new LongArrayQueue(), handler);
        for (int round = 0; round < 8; round++) {
            long start = System.nanoTime();
            for (int i = 0; i < READS; i++) {
                decoder.restore(0);
                receive.putBytes(0, read, 0, bytes); // stands for the kernel's copy into the receive buffer
                decoder.onBytesReceived(bytes);
            }
            long elapsed = System.nanoTime() - start;
            System.out.printf("round %d: %.2f ns per frame (%d frames)%n", round,
                    (double) elapsed / ((long) READS * frames), (long) READS * frames);
        }
        if (sink == 42) {
            System.out.println(); // keeps the handler's work from being optimised away
        }
    }
}
