package dev.capwire.rpc;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Parser;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.rpc.Codec.MalformedException;
import dev.capwire.wire.FrameHeader;
import java.lang.ref.WeakReference;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One received message being decoded: its content, descriptors and fds, each taken once by the codec. A
 * message the codec cannot fully use is discarded: every reference and fd it brought is given back, so a
 * malformed call or answer leaks nothing.
 */
final class Incoming {
    /** Turns a received descriptor into a value: a proxy holding one new reference, or a local cap. */
    interface CapImporter {
        Object capFor(int descriptor, CapabilityType<?> type);

        /** Gives back the reference an unused sender-hosted descriptor brought. */
        void releaseUnused(int descriptor);

        /**
         * {@link #capFor} for a descriptor whose reference was claimed when the message arrived ({@code claim}, see
         * {@link #claimCarried}).
         */
        Object capFor(int descriptor, ImportTable.Import claim, CapabilityType<?> type);

        /** {@link #releaseUnused} for a descriptor whose reference was claimed when the message arrived. */
        void releaseUnused(int descriptor, ImportTable.Import claim);

        /**
         * Loop: takes now the references a message's sender-hosted descriptors bring, for a decoder that runs later
         * on another thread; per descriptor its claim, or null for one that brings no reference. Null when none does.
         */
        ImportTable.Import[] claimCarried(int[] descriptors);
    }

    static final int RECEIVER_HOSTED = 0x8000_0000;
    private static final int[] NO_DESCRIPTORS = new int[0];

    private CapImporter importer;
    private DirectBuffer buffer;
    private int position;
    private int end;
    private int[] descriptors;
    /** Per descriptor, the reference taken when the message arrived ({@link CapImporter#claimCarried}); or null. */
    private ImportTable.Import[] claims;
    private int nextCap;
    private FileDescriptor[] fds;
    private int nextFd;
    private List<Object> created; // the caps taken so far, null until the first
    private UnsafeBuffer view; // made at the first contentView, then rewrapped
    /**
     * This decoder's window onto the direct buffer of the last message parsed in place (a duplicate of it), and
     * that buffer's address. Held weakly: a connection that goes idle gives its receive buffer back to the
     * transport, and a window held here must not keep it from being freed. While the window lives, the buffer
     * it duplicates lives too, so no other buffer can have that address.
     */
    private WeakReference<ByteBuffer> window;
    private long windowAddress;
    /** For one that is reused: true from {@link #reset} until {@link #clear}. */
    private boolean inUse;

    Incoming(CapImporter importer, DirectBuffer buffer, int contentOffset, int contentEnd, int[] descriptors,
            FileDescriptor[] fds) {
        this.importer = importer;
        reset(buffer, contentOffset, contentEnd, descriptors, fds);
    }

    /**
     * One to be {@link #reset} for message after message by the one thread that owns it (the loop decoding a
     * non-blocking call, or an answer): a message costs no decoding object of its own. The codecs copy what
     * they keep, so nothing refers to it once decoding is over.
     */
    Incoming() {
        this.descriptors = NO_DESCRIPTORS;
    }

    /** Starts decoding the next message; false (and nothing changed) while a decode in this one is not over. */
    boolean tryReset(CapImporter importer, DirectBuffer buffer, int contentOffset, int contentEnd, int[] descriptors,
            FileDescriptor[] fds) {
        if (inUse) {
            return false;
        }
        this.importer = importer;
        reset(buffer, contentOffset, contentEnd, descriptors, fds);
        inUse = true;
        return true;
    }

    private void reset(DirectBuffer buffer, int contentOffset, int contentEnd, int[] descriptors,
            FileDescriptor[] fds) {
        this.buffer = buffer;
        this.position = contentOffset;
        this.end = contentEnd;
        this.descriptors = descriptors;
        this.claims = null;
        this.nextCap = 0;
        this.fds = fds;
        this.nextFd = 0;
        this.created = null;
    }

    /**
     * Loop, for a message decoded later on another thread: claims the references its descriptors bring now. A REVOKE
     * the loop handles before the decode then finds them in the import it revokes, so the proxies decoded from them
     * are revoked too, and their references go back with the import's; a reference first taken at decode time would
     * make a fresh import of the revoked cap, one nobody revokes.
     */
    void claimCarried() {
        claims = importer.claimCarried(descriptors);
    }

    /** Decoding is over: drops the message (its buffer may be reused now) so a reused one holds nothing. */
    void clear() {
        importer = null;
        buffer = null;
        descriptors = NO_DESCRIPTORS;
        claims = null;
        fds = null;
        created = null;
        inUse = false;
    }

    /** Reads the descriptors of a message whose header says {@code count} start at {@code offset}. */
    static int[] descriptors(DirectBuffer buffer, int offset, int count) {
        if (count == 0) {
            return NO_DESCRIPTORS;
        }
        int[] descriptors = new int[count];
        for (int i = 0; i < count; i++) {
            descriptors[i] = buffer.getInt(offset + 4 * i, FrameHeader.ORDER);
        }
        return descriptors;
    }

    /**
     * Gives back the references a message nobody decodes brought (a refused call, an answer that came too late):
     * each sender-hosted descriptor is a reference the sender counted for this side. {@code headerBytes} and
     * {@code capCountOffset} say where its header ends and holds its cap count; a message too short for its
     * header or its descriptors names nothing to trust, and is left alone.
     */
    static void releaseSenderHosted(CapImporter importer, DirectBuffer buffer, int offset, int length,
            int headerBytes, int capCountOffset) {
        if (length < headerBytes) {
            return;
        }
        int count = buffer.getShort(offset + capCountOffset, FrameHeader.ORDER) & 0xFFFF;
        if (length < headerBytes + 4 * count) {
            return;
        }
        int descriptorsAt = offset + headerBytes;
        for (int i = 0; i < count; i++) {
            int descriptor = buffer.getInt(descriptorsAt + 4 * i, FrameHeader.ORDER);
            if ((descriptor & RECEIVER_HOSTED) == 0 && descriptor >= ExportTable.FIRST_USER_ID) {
                importer.releaseUnused(descriptor);
            }
        }
    }

    /**
     * The rest of the content as a view of the message's own buffer, not a copy: one view per decoder, valid
     * until this decoder decodes its next message (for the loop's decoders, until the handler or the result's
     * sink returns).
     */
    DirectBuffer contentView() {
        if (view == null) {
            view = new UnsafeBuffer(0, 0);
        }
        view.wrap(buffer, position, end - position);
        position = end;
        return view;
    }

    /**
     * The rest of the content parsed as a protobuf message straight from the message's own buffer: no copy of
     * the content into an array first. The receive buffer is a direct {@code ByteBuffer}; this decoder keeps one
     * window onto it (a duplicate, made again only when the buffer changes), so a message costs no buffer object.
     */
    Object parse(Parser<?> parser) throws InvalidProtocolBufferException {
        int length = end - position;
        int at = position;
        position = end;
        byte[] array = buffer.byteArray();
        if (array != null) {
            return parser.parseFrom(array, buffer.wrapAdjustment() + at, length);
        }
        ByteBuffer direct = buffer.byteBuffer();
        if (direct == null || !direct.isDirect()) {
            byte[] bytes = new byte[length];
            buffer.getBytes(at, bytes);
            return parser.parseFrom(bytes);
        }
        int adjustment = buffer.wrapAdjustment();
        long address = buffer.addressOffset() - adjustment;
        ByteBuffer in = window == null ? null : window.get();
        if (in == null || windowAddress != address || in.capacity() != direct.capacity()) {
            in = direct.duplicate();
            window = new WeakReference<>(in);
            windowAddress = address;
        }
        int from = adjustment + at;
        in.clear();
        in.limit(from + length).position(from);
        return parser.parseFrom(in);
    }

    byte[] contentBytes() {
        byte[] bytes = new byte[end - position];
        buffer.getBytes(position, bytes);
        position = end;
        return bytes;
    }

    int contentShort() {
        if (end - position < 2) {
            throw new MalformedException("the content ends early");
        }
        int value = buffer.getShort(position, FrameHeader.ORDER) & 0xFFFF;
        position += 2;
        return value;
    }

    String contentString(int length) {
        if (end - position < length) {
            throw new MalformedException("the content ends early");
        }
        byte[] bytes = new byte[length];
        buffer.getBytes(position, bytes);
        position += length;
        return new String(bytes, StandardCharsets.UTF_8);
    }

    void requireContentConsumed() {
        if (position != end) {
            throw new MalformedException((end - position) + " bytes of content left over");
        }
    }

    FileDescriptor takeFd() {
        if (nextFd == fds.length) {
            throw new MalformedException("an fd was expected and none came with the message");
        }
        return fds[nextFd++];
    }

    int capsLeft() {
        return descriptors.length - nextCap;
    }

    Object takeCap(CapabilityType<?> type) {
        if (nextCap == descriptors.length) {
            throw new MalformedException("a cap was expected and the message has no descriptor left");
        }
        // Counted as taken only once it is: a descriptor refused here (past maxCaps, say) still brought a reference,
        // which discard gives back with the rest.
        Object cap = claims == null ? importer.capFor(descriptors[nextCap], type)
                : importer.capFor(descriptors[nextCap], claims[nextCap], type);
        nextCap++;
        if (created == null) {
            created = new ArrayList<>(descriptors.length);
        }
        created.add(cap);
        return cap;
    }

    /** After decoding: everything that came must have been used, or the message does not fit its type. */
    void requireAllTaken() {
        if (nextCap != descriptors.length) {
            throw new MalformedException((descriptors.length - nextCap) + " cap descriptors left over");
        }
        if (nextFd != fds.length) {
            throw new MalformedException((fds.length - nextFd) + " fds left over");
        }
    }

    /** After a failure: closes the fds and proxies this message brought and releases unused references. */
    void discard() {
        for (FileDescriptor fd : fds) {
            fd.close();
        }
        for (Object cap : created == null ? List.of() : created) {
            if (cap instanceof RemoteCapability) {
                ((RemoteCapability) cap).close();
            }
        }
        for (int i = nextCap; i < descriptors.length; i++) {
            if (claims != null) {
                importer.releaseUnused(descriptors[i], claims[i]);
            } else if ((descriptors[i] & RECEIVER_HOSTED) == 0 && descriptors[i] >= ExportTable.FIRST_USER_ID) {
                importer.releaseUnused(descriptors[i]); // 0 and 1 are never counted, nor released
            }
        }
        nextCap = descriptors.length;
    }
}
