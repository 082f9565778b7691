package dev.capwire.rpc;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.wire.FrameHeader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.agrona.DirectBuffer;
import org.agrona.ExpandableArrayBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One message being encoded: the content, the cap descriptors and the fds a value turns into, then the
 * payload of a call, an answer or a stream item around them (docs/rpc-protocol.md).
 */
final class Outgoing {
    /** Turns a cap value (a local object, or a proxy from the same connection) into a descriptor. */
    interface CapExporter {
        int descriptorFor(Object cap, CapabilityType<?> type);

        /** Takes back the reference a descriptor gave, for a message that was never sent. */
        void unexport(int descriptor);
    }

    static final int CALL_HEADER_BYTES = 20;
    static final int ANSWER_HEADER_BYTES = 4;
    static final int STREAM_ID_BYTES = 4;

    private final CapExporter exporter;
    private final ExpandableArrayBuffer content = new ExpandableArrayBuffer(64);
    private int contentLength;
    private int[] descriptors = new int[0];
    private int capCount;
    private final List<FileDescriptor> fds = new ArrayList<>(0);

    Outgoing(CapExporter exporter) {
        this.exporter = exporter;
    }

    void putContent(byte[] bytes) {
        content.putBytes(contentLength, bytes);
        contentLength += bytes.length;
    }

    void putContent(DirectBuffer buffer, int offset, int length) {
        content.putBytes(contentLength, buffer, offset, length);
        contentLength += length;
    }

    void putContentShort(int value) {
        content.putShort(contentLength, (short) value, FrameHeader.ORDER);
        contentLength += 2;
    }

    void putContentString(String text) {
        putContent(text.getBytes(StandardCharsets.UTF_8));
    }

    void addFd(FileDescriptor fd) {
        if (fd == null) {
            throw new NullPointerException("a null FileDescriptor cannot be sent");
        }
        fds.add(fd);
    }

    void addCap(Object cap, CapabilityType<?> type) {
        if (cap == null) {
            throw new NullPointerException("a null " + type.name() + " cap cannot be sent");
        }
        if (capCount == 0xFFFF) {
            throw new IllegalArgumentException("more than 65535 caps in one message");
        }
        if (capCount == descriptors.length) {
            descriptors = Arrays.copyOf(descriptors, Math.max(4, capCount * 2));
        }
        descriptors[capCount++] = exporter.descriptorFor(cap, type);
    }

    /** A descriptor already worked out (bootstrap exports the served cap itself). */
    void addDescriptor(int descriptor) {
        if (capCount == descriptors.length) {
            descriptors = Arrays.copyOf(descriptors, Math.max(4, capCount * 2));
        }
        descriptors[capCount++] = descriptor;
    }

    int capCount() {
        return capCount;
    }

    FileDescriptor[] fds() {
        return fds.toArray(new FileDescriptor[0]);
    }

    /** Gives back every reference this message's descriptors took: it will not be sent after all. */
    void abandon() {
        for (int i = 0; i < capCount; i++) {
            exporter.unexport(descriptors[i]);
        }
        capCount = 0;
    }

    /** A REQUEST payload: call header, descriptors, content. */
    UnsafeBuffer call(long timeoutNanos, int streamId, int initialCredit) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[CALL_HEADER_BYTES + 4 * capCount + contentLength]);
        payload.putLong(0, timeoutNanos, FrameHeader.ORDER);
        payload.putInt(8, streamId, FrameHeader.ORDER);
        payload.putInt(12, initialCredit, FrameHeader.ORDER);
        payload.putByte(16, (byte) 0); // target_kind: an export of the receiver
        payload.putByte(17, (byte) 0);
        payload.putShort(18, (short) capCount, FrameHeader.ORDER);
        putDescriptorsAndContent(payload, CALL_HEADER_BYTES);
        return payload;
    }

    /** A RESPONSE payload: answer header, descriptors, content. */
    UnsafeBuffer answer() {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[ANSWER_HEADER_BYTES + 4 * capCount + contentLength]);
        payload.putShort(0, (short) capCount, FrameHeader.ORDER);
        payload.putShort(2, (short) 0, FrameHeader.ORDER);
        putDescriptorsAndContent(payload, ANSWER_HEADER_BYTES);
        return payload;
    }

    /** A STREAM_ITEM payload: the stream id, then the content (items carry no caps). */
    UnsafeBuffer streamItem(int streamId) {
        if (capCount != 0) {
            abandon();
            throw new IllegalArgumentException("stream items cannot carry caps");
        }
        UnsafeBuffer payload = new UnsafeBuffer(new byte[STREAM_ID_BYTES + contentLength]);
        payload.putInt(0, streamId, FrameHeader.ORDER);
        payload.putBytes(STREAM_ID_BYTES, content, 0, contentLength);
        return payload;
    }

    private void putDescriptorsAndContent(UnsafeBuffer payload, int at) {
        for (int i = 0; i < capCount; i++) {
            payload.putInt(at + 4 * i, descriptors[i], FrameHeader.ORDER);
        }
        payload.putBytes(at + 4 * capCount, content, 0, contentLength);
    }

    /** RELEASE: drop {@code count} references to the peer's export {@code exportId}. */
    static UnsafeBuffer release(int exportId, int count) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
        payload.putInt(0, exportId, FrameHeader.ORDER);
        payload.putInt(4, count, FrameHeader.ORDER);
        return payload;
    }

    /** REVOKE: this side's export {@code exportId} is gone, for {@code reason}. */
    static UnsafeBuffer revoke(int exportId, String reason) {
        byte[] why = reason.getBytes(StandardCharsets.US_ASCII);
        UnsafeBuffer payload = new UnsafeBuffer(new byte[4 + why.length]);
        payload.putInt(0, exportId, FrameHeader.ORDER);
        payload.putBytes(4, why);
        return payload;
    }

    /** STREAM_CREDIT: the producer may send {@code items} more. */
    static UnsafeBuffer credit(int streamId, int items) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
        payload.putInt(0, streamId, FrameHeader.ORDER);
        payload.putInt(4, items, FrameHeader.ORDER);
        return payload;
    }
}
