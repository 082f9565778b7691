package dev.capwire.bindings;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.agrona.BufferUtil;

/**
 * A per-thread direct buffer for the small in/out records of control-path natives (paths, addresses,
 * credentials, fd arrays), so those calls allocate nothing after a thread's first.
 */
final class Scratch {
    static final int BYTES = 4096;

    private static final ThreadLocal<ByteBuffer> BUFFER = ThreadLocal.withInitial(
            () -> BufferUtil.allocateDirectAligned(BYTES, 64).order(ByteOrder.nativeOrder()));

    private Scratch() {
    }

    static ByteBuffer buffer() {
        return BUFFER.get();
    }

    static long address() {
        return BufferUtil.address(BUFFER.get());
    }

    /** Copies bytes to the start of this thread's scratch buffer; returns their length. */
    static int put(byte[] bytes) {
        if (bytes.length > BYTES) {
            throw new IllegalArgumentException("too long for a native record: " + bytes.length + " bytes");
        }
        BUFFER.get().put(0, bytes);
        return bytes.length;
    }

    /** The memory address of a direct buffer's first byte; heap buffers cannot be passed to native calls. */
    static long addressOf(ByteBuffer buffer) {
        if (!buffer.isDirect()) {
            throw new IllegalArgumentException("native I/O needs a direct ByteBuffer");
        }
        return BufferUtil.address(buffer);
    }
}
