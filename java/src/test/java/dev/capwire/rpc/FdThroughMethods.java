package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.rpc.testing.OpenRequest;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** One check, shared by the tests that run it on different transports: an fd both ways through typed methods. */
final class FdThroughMethods {
    private FdThroughMethods() {
    }

    /**
     * {@code openFd} returns a pipe's read end holding what was asked for, and {@code readFd} reads a pipe this
     * side passes; the caller keeps its own fd (the call sent a duplicate).
     */
    static void check(RemoteFiles files) throws Exception {
        try (FileDescriptor fd = files.openFd(OpenRequest.newBuilder()
                .setContent(ByteString.copyFromUtf8("through the pipe")).build())) {
            ByteBuffer buffer = ByteBuffer.allocateDirect(64);
            int read = fd.read(buffer);
            byte[] bytes = new byte[read];
            buffer.flip().get(bytes);
            assertEquals("through the pipe", new String(bytes, StandardCharsets.UTF_8));
        }
        FileDescriptor[] pipe = FileDescriptor.pipe();
        try {
            byte[] bytes = "to the server".getBytes(StandardCharsets.UTF_8);
            pipe[1].write(ByteBuffer.allocateDirect(bytes.length).put(bytes).flip());
            pipe[1].close();
            assertEquals("to the server", new String(files.readFd(pipe[0]), StandardCharsets.UTF_8));
            assertTrue(pipe[0].isOpen(), "the caller keeps its own fd: the call sent a duplicate");
        } finally {
            pipe[0].close();
            pipe[1].close();
        }
    }
}
