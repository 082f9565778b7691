package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class SmokeTest {
    @Test
    void socketPairMovesBytesAndReportsOwnCredentials() throws Exception {
        NativeSocket[] pair = NativeSocket.pair();
        try (NativeSocket a = pair[0]; NativeSocket b = pair[1]) {
            ByteBuffer out = ByteBuffer.allocateDirect(16).put(0, (byte) 42);
            assertEquals(16, a.write(out));
            ByteBuffer in = ByteBuffer.allocateDirect(16);
            assertTrue(b.fd().awaitReadable(5000));
            assertEquals(16, b.read(in));
            assertEquals(42, in.get(0));
            assertEquals(ProcessHandle.current().pid(), b.peerCredentials().pid().getAsLong());
            assertEquals("EAGAIN", Errno.name(Errno.EAGAIN));
        }
    }
}
