package dev.capwire.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class UnixSocketPingBenchmarkTest {
    private static final int PINGS = 1000;

    static Stream<UnixSocketPingBenchmark.SocketPair> bothSides() {
        return Stream.of(new UnixSocketPingBenchmark.CapwireSockets(), new UnixSocketPingBenchmark.JdkSockets());
    }

    @ParameterizedTest
    @MethodSource("bothSides")
    void everyPingMovesTheWholeMessage(UnixSocketPingBenchmark.SocketPair sockets) throws Exception {
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
