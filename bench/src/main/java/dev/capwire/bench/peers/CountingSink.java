package dev.capwire.bench.peers;

import dev.capwire.transport.AttributeKey;
import dev.capwire.transport.Connection;
import dev.capwire.transport.InboundFrame;
import dev.capwire.wire.FrameType;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The multi-producer sink: counts the NOTIFY frames of each connection, and answers every REQUEST: a
 * {@link #COUNTS_METHOD_ID} request with each counting connection's id and count so far (two longs a connection),
 * any other with its own payload (the round-trip probe). With {@code capwire.eventLoops} above one, connections
 * are spread over the loops and each count is written by its connection's loop only.
 */
public final class CountingSink {
    public static final int CAP_ID = Frames.CAP_ID;
    public static final int DATA_METHOD_ID = Frames.METHOD_ID;
    public static final int ECHO_METHOD_ID = Frames.SYNC_METHOD_ID;
    public static final int COUNTS_METHOD_ID = 4;

    private static final AttributeKey<AtomicLong> COUNT = AttributeKey.create("bench.frames", AtomicLong.class);

    private final Map<Long, AtomicLong> counts = new ConcurrentHashMap<>();

    private CountingSink() {
    }

    static AutoCloseable listen(Path path, String idleStrategy) throws Exception {
        return PeerServer.capwireListener(path, idleStrategy, new CountingSink()::onFrame);
    }

    private void onFrame(Connection connection, InboundFrame frame) {
        if (frame.type() == FrameType.NOTIFY) {
            AtomicLong count = connection.attribute(COUNT);
            if (count == null) {
                count = new AtomicLong();
                connection.setAttribute(COUNT, count);
                counts.put(connection.id(), count);
            }
            count.lazySet(count.get() + 1); // one writer: this connection's loop
        } else if (frame.type() == FrameType.REQUEST && frame.methodId() == COUNTS_METHOD_ID) {
            UnsafeBuffer answer = new UnsafeBuffer(new byte[counts.size() * 2 * Long.BYTES]);
            int at = 0;
            for (Map.Entry<Long, AtomicLong> entry : counts.entrySet()) {
                if (at + 2 * Long.BYTES > answer.capacity()) {
                    break; // a connection counted since the array was sized: next time
                }
                answer.putLong(at, entry.getKey(), ByteOrder.LITTLE_ENDIAN);
                answer.putLong(at + Long.BYTES, entry.getValue().get(), ByteOrder.LITTLE_ENDIAN);
                at += 2 * Long.BYTES;
            }
            connection.respond(frame.correlationId(), answer, 0, at);
        } else if (frame.type() == FrameType.REQUEST) {
            connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength());
        }
    }
}
