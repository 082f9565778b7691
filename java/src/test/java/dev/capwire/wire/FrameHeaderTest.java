package dev.capwire.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HexFormat;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

/** The header's bytes are exactly those of docs/wire-protocol.md's worked examples. */
class FrameHeaderTest {
    private static String hex(UnsafeBuffer buffer, int length) {
        byte[] bytes = new byte[length];
        buffer.getBytes(0, bytes);
        return HexFormat.of().formatHex(bytes);
    }

    @Test
    void requestExampleMatchesTheDocument() {
        UnsafeBuffer frame = new UnsafeBuffer(new byte[29]);
        FrameHeader.write(frame, 0, 29, FrameType.REQUEST, 0, 0x0102030405060708L, 2, 3, 0);
        frame.putBytes(24, "hello".getBytes());
        assertEquals("1d00000001030000" + "0807060504030201" + "0200000003000000" + "68656c6c6f", hex(frame, 29));

        FrameHeader header = new FrameHeader().wrap(frame, 0);
        assertEquals(29, header.frameLength());
        assertEquals(1, header.version());
        assertEquals(FrameType.REQUEST, header.type());
        assertEquals(0x0102030405060708L, header.correlationId());
        assertEquals(2, header.capId());
        assertEquals(3, header.methodId());
        assertEquals(0, header.fdCount());
    }

    @Test
    void errorExampleMatchesTheDocument() {
        UnsafeBuffer frame = new UnsafeBuffer(new byte[47]);
        int payload = ErrorPayload.encode(frame, 24, StatusCode.NOT_FOUND, "cap.unknown", "no cap");
        FrameHeader.write(frame, 0, 24 + payload, FrameType.ERROR, 0, 0x0102030405060708L, 0, 0, 0);
        assertEquals("2f00000001050000" + "0807060504030201" + "0000000000000000" + "050000000b006361"
                + "702e756e6b6e6f77" + "6e6e6f20636170", hex(frame, 47));
        assertEquals(StatusCode.NOT_FOUND, ErrorPayload.code(frame, 24, payload));
        assertEquals("cap.unknown", ErrorPayload.reason(frame, 24, payload));
        assertEquals("no cap", ErrorPayload.message(frame, 24, payload));
    }

    @Test
    void unsignedFieldsReadAsUnsigned() {
        UnsafeBuffer frame = new UnsafeBuffer(new byte[24]);
        FrameHeader.write(frame, 0, -1, FrameType.NOTIFY, 0xFFFF, -1L, -1, 0xFFFF, 0xFFFF);
        FrameHeader header = new FrameHeader().wrap(frame, 0);
        assertEquals(0xFFFF_FFFFL, header.frameLength());
        assertEquals(0xFFFF, header.flags());
        assertEquals(0xFFFF, header.methodId());
        assertEquals(0xFFFF, header.fdCount());
    }

    /**
     * {@link FrameHeader#check} accepts exactly the headers the wire protocol's rules allow, compared with the rules
     * written out one by one, around every boundary of every field it checks.
     */
    @Test
    void checkAcceptsExactlyTheValidHeaders() {
        int[] versions = {0, 1, 2, 0x81, 0xFF};
        int[] types = {-128, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 127};
        int[] flags = {0, 1, 2, 3, 0x100, 0x8000, 0x8001, 0xFFFF};
        int[] fdCounts = {0, 1, 253, 254, 0x100, 0xFFFF};
        long[] lengths = {0, 23, 24, 25, 4096, 4097, 0x8000_0000L, 0xFFFF_FFFFL};
        UnsafeBuffer frame = new UnsafeBuffer(new byte[24]);
        FrameHeader header = new FrameHeader();
        for (int version : versions) {
            for (int type : types) {
                for (int flag : flags) {
                    for (int fdCount : fdCounts) {
                        for (long length : lengths) {
                            FrameHeader.write(frame, 0, (int) length, (byte) type, flag, 9, 2, 1, fdCount);
                            frame.putByte(FrameHeader.VERSION_OFFSET, (byte) version);
                            header.wrap(frame, 0);
                            for (boolean fdsAllowed : new boolean[] {true, false}) {
                                boolean valid = length >= 24 && length <= 4096 && version == 1 && type >= 1
                                        && type <= 10 && (flag & ~FrameHeader.KNOWN_FLAGS) == 0
                                        && fdCount <= (fdsAllowed ? FrameHeader.MAX_FDS : 0);
                                String what = version + "/" + type + "/" + flag + "/" + fdCount + "/" + length + "/"
                                        + fdsAllowed;
                                assertEquals(valid, header.check(4096, fdsAllowed) == null, what);
                                assertEquals(length, header.frameLength(), what);
                                assertEquals(version, header.version(), what);
                                assertEquals((byte) type, header.type(), what);
                                assertEquals(flag, header.flags(), what);
                                assertEquals(fdCount, header.fdCount(), what);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void unknownStatusNumbersReadAsUnknown() {
        assertEquals(StatusCode.UNKNOWN, StatusCode.fromWire(999));
        assertEquals(StatusCode.UNAUTHENTICATED, StatusCode.fromWire(16));
    }
}
