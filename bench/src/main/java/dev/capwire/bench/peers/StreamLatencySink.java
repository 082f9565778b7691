package dev.capwire.bench.peers;

import dev.capwire.transport.Connection;
import dev.capwire.transport.InboundFrame;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A one-way stream's sink that measures each frame's latency from sender to listener: every payload starts with
 * the sender's {@link System#nanoTime()} (one monotonic clock for every process on a Linux host), and the sink
 * records now minus that. A {@link #SYNC_METHOD_ID} frame is echoed; a {@link #REPORT_METHOD_ID} frame is answered
 * with the latencies recorded since the last report, as a compressed HdrHistogram, and starts a new interval.
 */
public final class StreamLatencySink {
    public static final int CAP_ID = Frames.CAP_ID;
    public static final int DATA_METHOD_ID = Frames.METHOD_ID;
    public static final int SYNC_METHOD_ID = Frames.SYNC_METHOD_ID;
    public static final int REPORT_METHOD_ID = 3;
    /** Latencies are tracked up to a minute, at 3 significant digits. */
    public static final long HIGHEST_NANOS = TimeUnit.MINUTES.toNanos(1);

    private final Histogram interval = new Histogram(HIGHEST_NANOS, 3);
    private final ByteBuffer report = ByteBuffer.allocate(interval.getNeededByteBufferCapacity());
    private final UnsafeBuffer reportView = new UnsafeBuffer(report);

    private StreamLatencySink() {
    }

    static AutoCloseable listen(Path path, String idleStrategy) throws Exception {
        return PeerServer.capwireListener(path, idleStrategy, new StreamLatencySink()::onFrame);
    }

    private void onFrame(Connection connection, InboundFrame frame) {
        if (frame.methodId() == REPORT_METHOD_ID) {
            report.clear();
            int length = interval.encodeIntoCompressedByteBuffer(report);
            interval.reset();
            connection.sendNotify(CAP_ID, REPORT_METHOD_ID, reportView, 0, length, 10_000);
            return;
        }
        if (frame.payloadLength() >= Long.BYTES) {
            long latency = System.nanoTime() - frame.buffer().getLong(frame.payloadOffset());
            interval.recordValue(Math.max(0, Math.min(latency, HIGHEST_NANOS)));
        }
        if (frame.methodId() == SYNC_METHOD_ID) {
            connection.sendNotify(frame.capId(), frame.methodId(), frame.buffer(), frame.payloadOffset(),
                    frame.payloadLength(), 10_000);
        }
    }
}
