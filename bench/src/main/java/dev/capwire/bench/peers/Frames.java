package dev.capwire.bench.peers;

import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.agrona.concurrent.UnsafeBuffer;

/** The frame every peer sends: a NOTIFY with a fixed-size payload, built once. */
final class Frames {
    static final int CAP_ID = 2;
    static final int METHOD_ID = 1;
    /**
     * A one-way stream's last frame of a batch carries this method id: the sink echoes it, and since a stream
     * keeps its order, its echo proves every frame before it was received and decoded.
     */
    static final int SYNC_METHOD_ID = 2;

    private Frames() {
    }

    static ByteBuffer notify(int payloadBytes) {
        return notify(payloadBytes, METHOD_ID);
    }

    static ByteBuffer notify(int payloadBytes, int methodId) {
        ByteBuffer frame = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH + payloadBytes)
                .order(ByteOrder.LITTLE_ENDIAN);
        UnsafeBuffer view = new UnsafeBuffer(frame);
        FrameHeader.write(view, 0, frame.capacity(), FrameType.NOTIFY, 0, 0, CAP_ID, methodId, 0);
        for (int i = FrameHeader.HEADER_LENGTH; i < frame.capacity(); i++) {
            view.putByte(i, (byte) i);
        }
        return frame;
    }
}
