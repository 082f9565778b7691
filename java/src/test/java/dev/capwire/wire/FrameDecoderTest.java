package dev.capwire.wire;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.wire.proto.GoAwayReason;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32;
import org.agrona.DirectBuffer;
import org.agrona.ExpandableArrayBuffer;
import org.agrona.collections.LongArrayQueue;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

class FrameDecoderTest {
    private static final int MAX_FRAME = 4096;
    private static final int MAX_MESSAGE = 1 << 20;

    /** Records what the decoder reports. */
    private static final class Recorder implements FrameHandler {
        final List<byte[]> payloads = new ArrayList<>();
        final List<Long> correlationIds = new ArrayList<>();
        final List<long[]> fds = new ArrayList<>();
        final List<String> headers = new ArrayList<>(); // type, flags, cap and method as the handler saw them
        GoAwayReason error;
        String message;

        @Override
        public void onFrame(FrameHeader header, DirectBuffer buffer, int offset, int length, ClaimedFds claimed) {
            byte[] bytes = new byte[length];
            buffer.getBytes(offset, bytes);
            payloads.add(bytes);
            correlationIds.add(header.correlationId());
            headers.add(header.type() + "/" + header.flags() + "/" + header.capId() + "/" + header.methodId());
            fds.add(claimed.takeAll());
        }

        @Override
        public void onError(GoAwayReason reason, String text) {
            error = reason;
            message = text;
        }
    }

    private final LongArrayQueue arrived = new LongArrayQueue();
    private final Recorder recorder = new Recorder();
    private final UnsafeBuffer receive = new UnsafeBuffer(new byte[2 * MAX_FRAME]);
    private final FrameDecoder decoder = new FrameDecoder(receive, MAX_FRAME, MAX_MESSAGE, true, arrived, recorder);

    /** Appends a frame to a byte stream being built. */
    private static int frame(ExpandableArrayBuffer stream, int at, byte type, int flags, long id, byte[] payload,
            int fdCount) {
        FrameHeader.write(stream, at, 24 + payload.length, type, flags, id, 2, 1, fdCount);
        stream.putBytes(at + 24, payload);
        return at + 24 + payload.length;
    }

    /** Feeds the stream to the decoder in chunks of the given sizes (cycled). */
    private void feed(ExpandableArrayBuffer stream, int length, int... chunks) {
        int at = 0;
        for (int i = 0; at < length && !decoder.isStopped(); i++) {
            int chunk = Math.min(Math.min(chunks[i % chunks.length], length - at), decoder.writableBytes());
            receive.putBytes(decoder.writeOffset(), stream, at, chunk);
            decoder.onBytesReceived(chunk);
            at += chunk;
        }
    }

    @Test
    void framesSplitAtEveryByteArriveWhole() {
        ExpandableArrayBuffer stream = new ExpandableArrayBuffer();
        int end = 0;
        for (int i = 0; i < 50; i++) {
            end = frame(stream, end, FrameType.NOTIFY, 0, i, new byte[] {(byte) i, 7, 9}, 0);
        }
        feed(stream, end, 1);
        assertNull(recorder.error);
        assertEquals(50, recorder.payloads.size());
        for (int i = 0; i < 50; i++) {
            assertArrayEquals(new byte[] {(byte) i, 7, 9}, recorder.payloads.get(i));
        }
    }

    /**
     * One read holding many whole frames and the start of another, the rest in a second read, for every point the
     * first read can end at: every header field reaches the handler as written (the header is read as three 8-byte
     * words, so a field that straddles nothing must still come out whole, including high and unsigned values).
     */
    @Test
    void aReadOfManyFramesAndAPartialOneSplitAtEveryPoint() {
        ExpandableArrayBuffer stream = new ExpandableArrayBuffer();
        List<String> expected = new ArrayList<>();
        int end = 0;
        byte[] types = {FrameType.NOTIFY, FrameType.REQUEST, FrameType.RESPONSE, FrameType.CANCEL, FrameType.NOTIFY};
        for (int i = 0; i < 40; i++) {
            byte type = types[i % types.length];
            int capId = i % 3 == 0 ? -1 - i : i * 1_000_003;
            int methodId = (0xFFFF - i) & 0xFFFF;
            long id = i == 0 ? 1 : ((long) i << 56) | i;
            byte[] payload = new byte[type == FrameType.CANCEL ? 0 : i % 7 + 1];
            java.util.Arrays.fill(payload, (byte) i);
            FrameHeader.write(stream, end, 24 + payload.length, type, 0, id, capId, methodId, 0);
            stream.putBytes(end + 24, payload);
            end += 24 + payload.length;
            expected.add(type + "/0/" + capId + "/" + methodId + "#" + id + "#" + payload.length);
        }
        for (int split = 0; split <= end; split++) {
            Recorder seen = new Recorder();
            UnsafeBuffer buffer = new UnsafeBuffer(new byte[2 * MAX_FRAME]);
            FrameDecoder fresh = new FrameDecoder(buffer, MAX_FRAME, MAX_MESSAGE, true, new LongArrayQueue(), seen);
            buffer.putBytes(fresh.writeOffset(), stream, 0, split);
            fresh.onBytesReceived(split);
            int firstRead = seen.payloads.size();
            buffer.putBytes(fresh.writeOffset(), stream, split, end - split);
            fresh.onBytesReceived(end - split);
            assertNull(seen.error, seen.message);
            assertEquals(0, fresh.pendingBytes());
            assertTrue(firstRead <= expected.size());
            List<String> got = new ArrayList<>();
            for (int i = 0; i < seen.payloads.size(); i++) {
                got.add(seen.headers.get(i) + "#" + seen.correlationIds.get(i) + "#" + seen.payloads.get(i).length);
            }
            assertEquals(expected, got, "first read of " + split + " bytes");
        }
    }

    @Test
    void anOversizedLengthIsRefusedFromTheHeaderAlone() {
        ExpandableArrayBuffer stream = new ExpandableArrayBuffer();
        FrameHeader.write(stream, 0, Integer.MAX_VALUE, FrameType.REQUEST, 0, 1, 2, 1, 0);
        feed(stream, 24, 24);
        assertEquals(GoAwayReason.FRAME_TOO_LARGE, recorder.error);
        assertTrue(recorder.message.contains("2147483647"), recorder.message);
        assertTrue(decoder.isStopped());
    }

    @Test
    void eachHeaderViolationHasItsReason() {
        assertViolation(b -> b.putByte(FrameHeader.VERSION_OFFSET, (byte) 2), GoAwayReason.UNSUPPORTED_VERSION);
        assertViolation(b -> b.putByte(FrameHeader.TYPE_OFFSET, (byte) 0), GoAwayReason.UNKNOWN_FRAME_TYPE);
        assertViolation(b -> b.putByte(FrameHeader.TYPE_OFFSET, (byte) 11), GoAwayReason.UNKNOWN_FRAME_TYPE);
        assertViolation(b -> b.putShort(FrameHeader.FLAGS_OFFSET, (short) 2, FrameHeader.ORDER),
                GoAwayReason.MALFORMED_FRAME);
        assertViolation(b -> b.putInt(FrameHeader.LENGTH_OFFSET, 23, FrameHeader.ORDER), GoAwayReason.MALFORMED_FRAME);
        assertViolation(b -> b.putShort(FrameHeader.FD_COUNT_OFFSET, (short) 254, FrameHeader.ORDER),
                GoAwayReason.MALFORMED_FRAME);
        assertViolation(b -> b.putShort(FrameHeader.FD_COUNT_OFFSET, (short) 1, FrameHeader.ORDER),
                GoAwayReason.FD_MISMATCH);
    }

    private static void assertViolation(java.util.function.Consumer<UnsafeBuffer> corrupt, GoAwayReason expected) {
        Recorder recorder = new Recorder();
        UnsafeBuffer receive = new UnsafeBuffer(new byte[2 * MAX_FRAME]);
        FrameDecoder decoder = new FrameDecoder(receive, MAX_FRAME, MAX_MESSAGE, true, new LongArrayQueue(), recorder);
        FrameHeader.write(receive, 0, 24, FrameType.NOTIFY, 0, 0, 2, 1, 0);
        corrupt.accept(receive);
        decoder.onBytesReceived(24);
        assertEquals(expected, recorder.error, recorder.message);
        assertEquals(0, recorder.payloads.size());
    }

    @Test
    void fdsAreRefusedOnTcp() {
        Recorder tcp = new Recorder();
        UnsafeBuffer buffer = new UnsafeBuffer(new byte[2 * MAX_FRAME]);
        FrameDecoder noFds = new FrameDecoder(buffer, MAX_FRAME, MAX_MESSAGE, false, new LongArrayQueue(), tcp);
        FrameHeader.write(buffer, 0, 24, FrameType.REQUEST, 0, 1, 2, 1, 1);
        noFds.onBytesReceived(24);
        assertEquals(GoAwayReason.MALFORMED_FRAME, tcp.error);
    }

    @Test
    void interleavedFragmentsReassembleAndKeepTheirFds() {
        // Handles are 64 bits (a Windows SOCKET or HANDLE may lie above 2^31): both keep every bit.
        long first = (1L << 32) + 100;
        long second = 0x7fff_ffff_0000_00c8L;
        arrived.addLong(first); // arrives with message 7's first fragment
        arrived.addLong(second); // arrives with the single frame 9
        ExpandableArrayBuffer stream = new ExpandableArrayBuffer();
        int end = frame(stream, 0, FrameType.REQUEST, FrameHeader.FLAG_MORE_FRAGMENTS, 7, new byte[] {1, 2}, 1);
        end = frame(stream, end, FrameType.REQUEST, 0, 9, new byte[] {9}, 1);
        end = frame(stream, end, FrameType.REQUEST, FrameHeader.FLAG_MORE_FRAGMENTS, 7, new byte[] {3}, 0);
        end = frame(stream, end, FrameType.REQUEST, 0, 7, new byte[] {4, 5}, 0);
        feed(stream, end, 5, 11, 3);
        assertNull(recorder.error, recorder.message);
        assertEquals(List.of(9L, 7L), recorder.correlationIds);
        assertArrayEquals(new byte[] {9}, recorder.payloads.get(0));
        assertArrayEquals(new long[] {second}, recorder.fds.get(0));
        assertArrayEquals(new byte[] {1, 2, 3, 4, 5}, recorder.payloads.get(1));
        assertArrayEquals(new long[] {first}, recorder.fds.get(1));
    }

    @Test
    void aReassembledMessageAboveTheMaximumIsRefused() {
        Recorder small = new Recorder();
        UnsafeBuffer buffer = new UnsafeBuffer(new byte[2 * MAX_FRAME]);
        FrameDecoder decoder = new FrameDecoder(buffer, MAX_FRAME, 10_000, true, new LongArrayQueue(), small);
        for (int i = 0; i < 4 && small.error == null; i++) {
            FrameHeader.write(buffer, decoder.writeOffset(), MAX_FRAME, FrameType.NOTIFY,
                    FrameHeader.FLAG_MORE_FRAGMENTS, 3, 2, 1, 0);
            decoder.onBytesReceived(MAX_FRAME);
        }
        assertEquals(GoAwayReason.MESSAGE_TOO_LARGE, small.error);
    }

    @Test
    void randomStreamsRoundTripExactly() {
        Random random = new Random(20261123);
        ExpandableArrayBuffer stream = new ExpandableArrayBuffer();
        List<Long> sent = new ArrayList<>();
        int end = 0;
        for (int i = 0; i < 2000; i++) {
            byte[] payload = new byte[random.nextInt(MAX_FRAME - 24 + 1)];
            random.nextBytes(payload);
            sent.add(crc(payload));
            end = frame(stream, end, FrameType.NOTIFY, 0, 0, payload, 0);
        }
        feed(stream, end, 1 + random.nextInt(3), 4093, 17, 8192, 1, 100);
        assertNull(recorder.error, recorder.message);
        assertEquals(sent.size(), recorder.payloads.size());
        for (int i = 0; i < sent.size(); i++) {
            assertEquals(sent.get(i), crc(recorder.payloads.get(i)), "frame " + i);
        }
    }

    private static long crc(byte[] bytes) {
        CRC32 crc = new CRC32();
        crc.update(bytes);
        return crc.getValue();
    }

    @Test
    void tooManyMessagesInReassemblyAtOnceIsRefused() {
        Recorder many = new Recorder();
        UnsafeBuffer buffer = new UnsafeBuffer(new byte[2 * MAX_FRAME]);
        FrameDecoder decoder = new FrameDecoder(buffer, MAX_FRAME, MAX_MESSAGE, true, new LongArrayQueue(), many);
        for (int id = 1; id <= FrameDecoder.MAX_PARTIAL_MESSAGES + 1 && many.error == null; id++) {
            FrameHeader.write(buffer, decoder.writeOffset(), 25, FrameType.NOTIFY, FrameHeader.FLAG_MORE_FRAGMENTS,
                    id, 2, 1, 0);
            decoder.onBytesReceived(25);
        }
        assertEquals(GoAwayReason.PROTOCOL_ERROR, many.error);
    }

    @Test
    void manyLargePartialMessagesTogetherAreBounded() {
        Recorder big = new Recorder();
        UnsafeBuffer buffer = new UnsafeBuffer(new byte[2 * MAX_FRAME]);
        int maxMessage = 3 * MAX_FRAME;
        FrameDecoder decoder = new FrameDecoder(buffer, MAX_FRAME, maxMessage, true, new LongArrayQueue(), big);
        // Each message stays under maxMessage, but together they pass the bound on what reassembly may hold.
        for (int round = 0; round < 2 && big.error == null; round++) {
            for (int id = 1; id <= 8 && big.error == null; id++) {
                FrameHeader.write(buffer, decoder.writeOffset(), MAX_FRAME, FrameType.NOTIFY,
                        FrameHeader.FLAG_MORE_FRAGMENTS, id, 2, 1, 0);
                decoder.onBytesReceived(MAX_FRAME);
            }
        }
        assertEquals(GoAwayReason.MESSAGE_TOO_LARGE, big.error);
        assertTrue(big.message.contains("in progress"), big.message);
    }
}
