package dev.capwire.bindings;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Blocking helpers over the non-blocking fds of the bindings, with a generous deadline for a busy host. */
final class Io {
    static final long TIMEOUT_MS = 30_000;

    private Io() {
    }

    static ByteBuffer direct(byte[] bytes) {
        return ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
    }

    static ByteBuffer direct(String text) {
        return direct(text.getBytes(StandardCharsets.UTF_8));
    }

    static void writeFully(FileDescriptor fd, byte[] bytes) throws IOException {
        ByteBuffer buffer = direct(bytes);
        while (buffer.hasRemaining()) {
            if (fd.write(buffer) == 0 && !fd.awaitWritable(TIMEOUT_MS)) {
                throw new IOException("not writable within " + TIMEOUT_MS + " ms: " + fd);
            }
        }
    }

    static void writeFully(FileDescriptor fd, String text) throws IOException {
        writeFully(fd, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Reads exactly {@code length} bytes; fails at end of input or when nothing arrives in time. */
    static byte[] readExactly(FileDescriptor fd, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocateDirect(length);
        while (buffer.hasRemaining()) {
            awaitReadable(fd);
            if (fd.read(buffer) < 0) {
                throw new IOException("end of input after " + buffer.position() + " of " + length + " bytes: " + fd);
            }
        }
        byte[] bytes = new byte[length];
        buffer.flip().get(bytes);
        return bytes;
    }

    static String readText(FileDescriptor fd, int length) throws IOException {
        return new String(readExactly(fd, length), StandardCharsets.UTF_8);
    }

    /** Reads until end of input. */
    static String readToEnd(FileDescriptor fd) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        ByteBuffer buffer = ByteBuffer.allocateDirect(4096);
        for (;;) {
            awaitReadable(fd);
            buffer.clear();
            int read = fd.read(buffer);
            if (read < 0) {
                return all.toString(StandardCharsets.UTF_8);
            }
            all.write(bytesOf(buffer.flip()), 0, read);
        }
    }

    private static byte[] bytesOf(ByteBuffer buffer) {
        byte[] bytes = new byte[buffer.remaining()];
        buffer.get(bytes);
        return bytes;
    }

    private static void awaitReadable(FileDescriptor fd) throws IOException {
        if (!fd.awaitReadable(TIMEOUT_MS)) {
            throw new IOException("nothing to read within " + TIMEOUT_MS + " ms: " + fd);
        }
    }
}
