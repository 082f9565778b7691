package dev.capwire.transport;

import java.util.zip.CRC32;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * Deterministic test payloads: message {@code seq} has a size and bytes that both ends can regenerate, so
 * a receiver checks order, completeness and content without the sender telling it anything. The first 8
 * bytes (when they fit) carry the sequence number.
 */
final class Payloads {
    private Payloads() {
    }

    /** Mostly small messages with a rare large one, the mix real traffic has: 1 in 1000 up to maxSize. */
    static int size(long seq, int maxSize) {
        long mixed = mix(seq);
        int small = (int) Long.remainderUnsigned(mixed, Math.min(1024, maxSize)) + 1;
        if (Long.remainderUnsigned(mixed >>> 20, 1000) == 0) {
            return (int) Long.remainderUnsigned(mixed >>> 32, maxSize) + 1;
        }
        return small;
    }

    /** Writes message {@code seq} at {@code offset}; returns its size. */
    static int fill(MutableDirectBuffer buffer, int offset, long seq, int maxSize) {
        int size = size(seq, maxSize);
        long state = mix(seq ^ 0x9E3779B97F4A7C15L);
        int i = 0;
        for (; i + 8 <= size; i += 8) {
            state = mix(state);
            buffer.putLong(offset + i, state);
        }
        for (; i < size; i++) {
            buffer.putByte(offset + i, (byte) (seq + i));
        }
        if (size >= 8) {
            buffer.putLong(offset, seq);
        }
        return size;
    }

    static long checksum(DirectBuffer buffer, int offset, int length) {
        CRC32 crc = new CRC32();
        byte[] bytes = new byte[length];
        buffer.getBytes(offset, bytes);
        crc.update(bytes);
        return crc.getValue();
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
