package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Handles cross JNI as 64-bit values (a Windows SOCKET or HANDLE may lie above 2^31). No such handle can be
 * made on Linux, so what is shown here is the other half: a value above 2^31 whose low 32 bits name an open
 * fd is refused with EBADF by every kind of call, never truncated into that fd, and the 8-byte handle arrays
 * of socketpair, sendFds and recvFds carry real fds intact. Windows itself runs only the C layer (under Wine).
 */
@ExtendWith(LeakCheck.class)
class HandleWidthTest {
    @Test
    void aValueAboveTwoToThe31IsNoFdAndIsNeverTruncatedIntoOne() throws Exception {
        NativeSocket[] pair = NativeSocket.pair();
        try (NativeSocket a = pair[0]; NativeSocket b = pair[1]) {
            long fd = a.fd().acquire();
            try {
                long high = (1L << 32) | fd; // truncated to 32 bits, this would be a's own fd
                assertTrue(Native.fdFlags(fd) >= 0);
                assertEquals(-Errno.EBADF, Native.fdFlags(high));
                assertEquals(-Errno.EBADF, Native.dup(high));
                assertEquals(-Errno.EBADF, Native.close(high));
                assertEquals(-Errno.EBADF, Native.close(-1L));
                ByteBuffer scratch = Scratch.buffer();
                scratch.putLong(0, high);
                ByteBuffer one = Io.direct("x");
                assertEquals(-Errno.EBADF, Native.sendFds(fd, Scratch.addressOf(one), 1, Scratch.address(), 1));
                // a is untouched: still open, and still connected to b.
                assertEquals(1, a.write(Io.direct("y")));
                assertEquals("y", Io.readText(b.fd(), 1));
            } finally {
                a.fd().release();
            }
        }
    }

    @Test
    void handleArraysAreEightBytesEach() throws Exception {
        NativeSocket[] pair = NativeSocket.pair();
        try (NativeSocket a = pair[0]; NativeSocket b = pair[1]; Pipes pipes = new Pipes(2)) {
            // Two fds in one message: each read from its own 8-byte slot, each arriving in its own.
            assertEquals(1, a.send(Io.direct("m"), pipes.writeEnd(0), pipes.writeEnd(1)));
            pipes.closeWriteEnds();
            b.fd().awaitReadable(Io.TIMEOUT_MS);
            NativeSocket.Received received = b.receive(ByteBuffer.allocateDirect(4), 4);
            FileDescriptor[] fds = received.fds();
            assertEquals(2, fds.length);
            try (FileDescriptor first = fds[0]; FileDescriptor second = fds[1]) {
                Io.writeFully(first, "first");
                Io.writeFully(second, "second");
                assertArrayEquals("first".getBytes(), Io.readExactly(pipes.readEnd(0), 5));
                assertArrayEquals("second".getBytes(), Io.readExactly(pipes.readEnd(1), 6));
            }
        }
    }
}
