package dev.capwire.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class UnixSocketPingBenchmarkTest {
    private static final int PINGS = 1000;

    @Test
    void capwireSocketsMoveEveryMessageWhole() throws Exception {
        UnixSocketPingBenchmark.CapwireSockets sockets = new UnixSocketPingBenchmark.CapwireSockets();
        sockets.open();
        try {
            for (int i = 0; i < PINGS; i++) {
                assertEquals(UnixSocketPingBenchmark.MESSAGE_BYTES, sockets.ping());
            }
        } finally {
            sockets.close();
        }
    }

    @Test
    void jdkSocketsMoveEveryMessageWhole() throws Exception {
        UnixSocketPingBenchmark.JdkSockets sockets = new UnixSocketPingBenchmark.JdkSockets();
        sockets.open();
        try {
            for (int i = 0; i < PINGS; i++) {
                assertEquals(UnixSocketPingBenchmark.MESSAGE_BYTES, sockets.ping());
            }
        } finally {
            sockets.close();
        }
    }

    @Test
    void aPingThatMovesNothingFailsInsteadOfBeingTimed() throws Exception {
        UnixSocketPingBenchmark.CapwireSockets sockets = new UnixSocketPingBenchmark.CapwireSockets();
        sockets.open();
        try {
            sockets.writer.shutdownOutput();
            IllegalStateException failure = assertThrows(IllegalStateException.class, sockets::ping);
            assertTrue(failure.getMessage().contains("EPIPE"), failure.getMessage());
        } finally {
            sockets.close();
        }
    }
}
