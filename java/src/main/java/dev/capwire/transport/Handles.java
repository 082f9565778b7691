package dev.capwire.transport;

import dev.capwire.bindings.Native;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * Fd numbers in native memory, as {@link Native#sendFds} reads them and {@link Native#recvFds} writes them:
 * one native-order 64-bit value each ({@link Native#HANDLE_BYTES}), so a Windows {@code SOCKET} or
 * {@code HANDLE} above 2^31 keeps every bit. The ring's fd-carrying records, staging's fd scratch and the
 * receive scratch all use this layout.
 */
final class Handles {
    static final int BYTES = Native.HANDLE_BYTES;

    private Handles() {
    }

    /** Bytes that {@code count} handles take. */
    static int bytes(int count) {
        return count * BYTES;
    }

    /** Writes the first {@code count} of {@code handles} one after another from {@code at}. */
    static void put(MutableDirectBuffer buffer, int at, long[] handles, int count) {
        for (int i = 0; i < count; i++) {
            buffer.putLong(at + i * BYTES, handles[i]);
        }
    }

    /** Handle {@code i} of those written from {@code at}. */
    static long get(DirectBuffer buffer, int at, int i) {
        return buffer.getLong(at + i * BYTES);
    }

    /** How many handles follow a frame in a ring record of {@code recordLength} bytes. */
    static int countAfter(int frameLength, int recordLength) {
        return (recordLength - frameLength) / BYTES;
    }

    /** Closes {@code count} handles written from {@code at}. */
    static void closeAll(DirectBuffer buffer, int at, int count) {
        for (int i = 0; i < count; i++) {
            Native.close(get(buffer, at, i));
        }
    }

    static void closeAll(long[] handles) {
        for (long handle : handles) {
            Native.close(handle);
        }
    }
}
