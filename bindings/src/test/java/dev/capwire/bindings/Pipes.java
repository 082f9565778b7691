package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Pipes as one resource. Tests that send the write ends away keep the read ends, to watch through them
 * what became of the write ends.
 */
final class Pipes implements AutoCloseable {
    private final List<FileDescriptor[]> pipes = new ArrayList<>();

    Pipes(int count) throws NativeIoException {
        try {
            for (int i = 0; i < count; i++) {
                pipes.add(FileDescriptor.pipe());
            }
        } catch (NativeIoException | RuntimeException e) {
            close();
            throw e;
        }
    }

    FileDescriptor readEnd(int index) {
        return pipes.get(index)[0];
    }

    FileDescriptor writeEnd(int index) {
        return pipes.get(index)[1];
    }

    FileDescriptor[] writeEnds() {
        return pipes.stream().map(pipe -> pipe[1]).toArray(FileDescriptor[]::new);
    }

    /** After sending, so that the only write ends left are the ones in flight or received. */
    void closeWriteEnds() {
        pipes.forEach(pipe -> pipe[1].close());
    }

    /** Each read end is at end of input: no copy of its write end survives anywhere. */
    void assertEveryWriteEndIsGone() throws IOException {
        for (FileDescriptor[] pipe : pipes) {
            assertTrue(pipe[0].awaitReadable(Io.TIMEOUT_MS), "a write end is still open somewhere");
            assertEquals(-1, pipe[0].read(ByteBuffer.allocateDirect(1)), "a write end is still open somewhere");
        }
    }

    @Override
    public void close() {
        for (FileDescriptor[] pipe : pipes) {
            pipe[0].close();
            pipe[1].close();
        }
    }
}
