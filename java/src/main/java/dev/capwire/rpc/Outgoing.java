package dev.capwire.rpc;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.MessageLite;
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
 *
 * <p>Each thread reuses one: the transport copies a message into its ring or staging before the send returns,
 * so the buffer is free again right after, and a call or an answer costs no buffer of its own. Take one through the
 * connection's {@link Shortcut}, and {@link #recycle} it once the message is sent or abandoned.
 */
final class Outgoing {
    /** Turns a cap value (a local object, or a proxy from the same connection) into a descriptor. */
    interface CapExporter {
        int descriptorFor(Object cap, CapabilityType<?> type);

        /** Takes back the reference a descriptor gave, for a message that was never sent. */
        void unexport(int descriptor);
    }

    static final int CALL_HEADER_BYTES = 20;
    /** Where a call header's u16 cap count sits (an answer header's is at 0). */
    static final int CALL_CAP_COUNT_OFFSET = 18;
    static final int ANSWER_HEADER_BYTES = 4;
    static final int STREAM_ID_BYTES = 4;

    /**
     * The content is written after room for the largest header, so a message without caps (nearly every one)
     * gets its header written in front of it and goes out as a view of this one buffer, with no copy.
     */
    private static final int HEADER_ROOM = CALL_HEADER_BYTES;
    private static final int[] NO_DESCRIPTORS = new int[0];
    private static final FileDescriptor[] NO_FDS = new FileDescriptor[0];

    private static final int INITIAL_CAPACITY = 256;
    /** A thread keeps a buffer grown past this only for the message that grew it. */
    private static final int MAX_KEPT_CAPACITY = 64 * 1024;
    private static final ThreadLocal<Outgoing> SPARE = new ThreadLocal<>();

    /** The thread this one belongs to: only it takes, encodes into and recycles it. */
    private final Thread owner = Thread.currentThread();
    private CapExporter exporter;
    private ExpandableArrayBuffer content = new ExpandableArrayBuffer(INITIAL_CAPACITY);
    private final UnsafeBuffer view = new UnsafeBuffer(0, 0);
    private int contentLength;
    private int[] descriptors = NO_DESCRIPTORS;
    private int capCount;
    private List<FileDescriptor> fds; // null until the first fd
    private boolean inUse;

    private Outgoing() {
    }

    /**
     * This thread's message to encode into, for {@code exporter}'s connection; a fresh one when the thread's own
     * is in use (a codec that sends while it encodes).
     */
    static Outgoing take(CapExporter exporter) {
        Outgoing out = SPARE.get();
        if (out == null || out.inUse) {
            out = new Outgoing();
            if (SPARE.get() == null) {
                SPARE.set(out);
            }
        }
        out.exporter = exporter;
        out.inUse = true;
        return out;
    }

    /**
     * A connection's shortcut to the thread's message: the one taken last on the connection, used again when the
     * same thread takes one next, so that a run of calls or answers from one thread (the usual case: a loop, or
     * an application thread making call after call) costs no thread-local lookup each. A thread-local lookup per
     * call was 7 % of an RPC client's sending work in a profile of 128 calls in flight; on a thread with many
     * thread-locals (an application server's) it costs more. Racy by design: any thread may overwrite the
     * shortcut, and a thread that finds another's message there just takes its own through the thread-local.
     */
    static final class Shortcut {
        private Outgoing last;

        /** This thread's message to encode into, for {@code exporter}'s connection (see {@link Outgoing#take}). */
        Outgoing take(CapExporter exporter) {
            Outgoing out = last;
            // owner is final, so a racy read sees it set; inUse is the owner's own plain field.
            if (out != null && out.owner == Thread.currentThread() && !out.inUse) {
                out.exporter = exporter;
                out.inUse = true;
                return out;
            }
            out = Outgoing.take(exporter);
            last = out;
            return out;
        }
    }

    /**
     * The message was sent or abandoned: this thread may encode the next one here. The payload returned
     * before is invalid from now on.
     */
    void recycle() {
        exporter = null;
        contentLength = 0;
        capCount = 0;
        fds = null;
        if (content.capacity() > MAX_KEPT_CAPACITY) {
            content = new ExpandableArrayBuffer(INITIAL_CAPACITY);
        }
        view.wrap(0, 0);
        inUse = false;
    }

    void putContent(byte[] bytes) {
        content.putBytes(HEADER_ROOM + contentLength, bytes);
        contentLength += bytes.length;
    }

    void putContent(DirectBuffer buffer, int offset, int length) {
        content.putBytes(HEADER_ROOM + contentLength, buffer, offset, length);
        contentLength += length;
    }

    /** A protobuf message encoded straight into the content, without an intermediate array. */
    void putContent(MessageLite message) {
        int size = message.getSerializedSize();
        int at = HEADER_ROOM + contentLength;
        content.checkLimit(at + size);
        CodedOutputStream out = CodedOutputStream.newInstance(content.byteArray(), at, size);
        try {
            message.writeTo(out);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e); // writing to an array of the right size does not fail
        }
        out.checkNoSpaceLeft();
        contentLength += size;
    }

    void putContentShort(int value) {
        content.putShort(HEADER_ROOM + contentLength, (short) value, FrameHeader.ORDER);
        contentLength += 2;
    }

    void putContentString(String text) {
        putContent(text.getBytes(StandardCharsets.UTF_8));
    }

    void addFd(FileDescriptor fd) {
        if (fd == null) {
            throw new NullPointerException("a null FileDescriptor cannot be sent");
        }
        if (fds == null) {
            fds = new ArrayList<>(1);
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
        // Exported first, counted after: in "descriptors[capCount++] = descriptorFor(...)" Java counts before the
        // export runs, so an export refused (maxCaps) left a slot counted whose value was the previous message's,
        // and abandon() released that earlier cap's reference.
        addDescriptor(exporter.descriptorFor(cap, type));
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
        return fds == null ? NO_FDS : fds.toArray(NO_FDS);
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
        UnsafeBuffer payload = frame(CALL_HEADER_BYTES);
        payload.putLong(0, timeoutNanos, FrameHeader.ORDER);
        payload.putInt(8, streamId, FrameHeader.ORDER);
        payload.putInt(12, initialCredit, FrameHeader.ORDER);
        payload.putByte(16, (byte) 0); // target_kind: an export of the receiver
        payload.putByte(17, (byte) 0);
        payload.putShort(CALL_CAP_COUNT_OFFSET, (short) capCount, FrameHeader.ORDER);
        return payload;
    }

    /** A RESPONSE payload: answer header, descriptors, content. */
    UnsafeBuffer answer() {
        UnsafeBuffer payload = frame(ANSWER_HEADER_BYTES);
        payload.putShort(0, (short) capCount, FrameHeader.ORDER);
        payload.putShort(2, (short) 0, FrameHeader.ORDER);
        return payload;
    }

    /** A STREAM_ITEM payload: the stream id, then the content (items carry no caps). */
    UnsafeBuffer streamItem(int streamId) {
        if (capCount != 0) {
            abandon();
            throw new IllegalArgumentException("stream items cannot carry caps");
        }
        UnsafeBuffer payload = frame(STREAM_ID_BYTES);
        payload.putInt(0, streamId, FrameHeader.ORDER);
        return payload;
    }

    /**
     * The payload with {@code headerBytes} in front for the caller to fill, then the descriptors and the content:
     * a view of the content's own buffer (valid until {@link #recycle}) when there are no descriptors, else a
     * new array.
     */
    private UnsafeBuffer frame(int headerBytes) {
        if (capCount == 0) {
            view.wrap(content.byteArray(), HEADER_ROOM - headerBytes, headerBytes + contentLength);
            return view;
        }
        UnsafeBuffer payload = new UnsafeBuffer(new byte[headerBytes + 4 * capCount + contentLength]);
        putDescriptorsAndContent(payload, headerBytes);
        return payload;
    }

    private void putDescriptorsAndContent(UnsafeBuffer payload, int at) {
        for (int i = 0; i < capCount; i++) {
            payload.putInt(at + 4 * i, descriptors[i], FrameHeader.ORDER);
        }
        payload.putBytes(at + 4 * capCount, content, HEADER_ROOM, contentLength);
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
