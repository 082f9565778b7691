package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.capwire.bindings.Native;
import java.nio.ByteOrder;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

/**
 * The fd-number layout of the ring's fd-carrying records, staging's fd scratch and the receive scratch: what
 * {@code Native.sendFds} reads and {@code Native.recvFds} writes. A Windows SOCKET or HANDLE may lie above
 * 2^31; no such handle exists on Linux, so this shows the encoding keeps one whole.
 */
class HandlesTest {
    @Test
    void handlesAboveTwoToThe31KeepEveryBitInNativeOrder() {
        long[] handles = {3, (1L << 32) + 4, 0x7fff_ffff_ffff_fff8L};
        UnsafeBuffer record = new UnsafeBuffer(new byte[64]);
        int frameLength = 27; // a ring record's handles follow a frame of any length: unaligned is fine
        Handles.put(record, frameLength, handles, handles.length);
        for (int i = 0; i < handles.length; i++) {
            assertEquals(handles[i], Handles.get(record, frameLength, i));
            // What the C side reads: a native-order int64 per handle, Native.HANDLE_BYTES apart.
            assertEquals(handles[i], record.getLong(frameLength + i * Native.HANDLE_BYTES, ByteOrder.nativeOrder()));
        }
        assertEquals(3, Handles.countAfter(frameLength, frameLength + Handles.bytes(3)));
        assertEquals(24, Handles.bytes(3));
    }

    @Test
    void onlyTheGivenCountIsWritten() {
        UnsafeBuffer record = new UnsafeBuffer(new byte[32]);
        Handles.put(record, 0, new long[] {1L << 40, 1L << 41}, 1);
        assertEquals(1L << 40, Handles.get(record, 0, 0));
        assertEquals(0, Handles.get(record, 0, 1));
    }
}
