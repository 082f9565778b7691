package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@ExtendWith(LeakCheck.class)
class TcpTest {
    @TempDir(factory = SocketDirFactory.class)
    Path dir;

    @ParameterizedTest(name = "over {0}")
    @ValueSource(strings = {"127.0.0.1", "::1"})
    void aChildConnectsEchoesAndBothSidesAgreeOnTheAddresses(String loopback) throws Exception {
        InetAddress ip = InetAddress.getByName(loopback);
        assumeLoopbackExists(ip);
        try (ConnectedChild connection = ConnectedChild.over(new InetSocketAddress(ip, 0))) {
            InetSocketAddress listening = (InetSocketAddress) connection.listener.localAddress();
            assertNotEquals(0, listening.getPort(), "port 0 asks the kernel for a free port");
            InetSocketAddress expected = new InetSocketAddress(ip, listening.getPort());
            assertEquals(expected, listening);
            assertEquals(expected.toString(), listening.toString(), "reads like the JDK's own address");
            assertEquals(listening, connection.accepted.localAddress());
            assertEquals(listening.toString(), connection.child.ask("remote-address"));
            assertEquals(connection.accepted.remoteAddress().toString(), connection.child.ask("local-address"));

            byte[] payload = new byte[16 * 1024]; // fits the loopback buffers both ways: the child echoes it whole
            for (int i = 0; i < payload.length; i++) {
                payload[i] = (byte) (i * 31 + i / 256);
            }
            Io.writeFully(connection.accepted.fd(), payload);
            connection.child.ask("echo " + payload.length);
            assertArrayEquals(payload, Io.readExactly(connection.accepted.fd(), payload.length));
        }
    }

    @Test
    void optionsAreSetAndReadBack() throws Exception {
        try (NativeSocket listener = NativeSocket.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1);
                NativeSocket client = NativeSocket.connect(listener.localAddress(), Io.TIMEOUT_MS);
                NativeSocket accepted = listener.accept(Io.TIMEOUT_MS)) {
            assertNotNull(accepted);
            accepted.setOption(Native.OPT_TCP_NODELAY, 1);
            assertNotEquals(0, accepted.getOption(Native.OPT_TCP_NODELAY));
            accepted.setOption(Native.OPT_TCP_NODELAY, 0);
            assertEquals(0, accepted.getOption(Native.OPT_TCP_NODELAY));
            assertNotEquals(0, listener.getOption(Native.OPT_REUSEADDR), "listen sets SO_REUSEADDR for TCP");

            // Linux doubles what it is given (for its own bookkeeping); the ranges do not overlap, so a send
            // and receive buffer mixed up would show.
            client.setOption(Native.OPT_SNDBUF, 32 * 1024);
            client.setOption(Native.OPT_RCVBUF, 96 * 1024);
            assertBetween(32 * 1024, 64 * 1024, client.getOption(Native.OPT_SNDBUF));
            assertBetween(96 * 1024, 192 * 1024, client.getOption(Native.OPT_RCVBUF));
        }
    }

    @Test
    void tcpOptionsOnAUnixSocketFailNamingTheCall() throws Exception {
        try (SocketPair pair = new SocketPair()) {
            NativeIoException e = assertThrows(NativeIoException.class,
                    () -> pair.first.setOption(Native.OPT_TCP_NODELAY, 1));
            assertEquals("setsockopt", e.call());
            assertTrue(e.getMessage().startsWith("setsockopt(socket fd "), e.getMessage());
            assertEquals("EOPNOTSUPP", e.errnoName());
        }
    }

    @Test
    void connectingToAClosedPortIsNoListener() throws Exception {
        InetSocketAddress vacated;
        try (NativeSocket listener = NativeSocket.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1)) {
            vacated = (InetSocketAddress) listener.localAddress();
        }
        NativeIoException.NoListenerException e = assertThrows(NativeIoException.NoListenerException.class,
                () -> NativeSocket.connect(vacated, Io.TIMEOUT_MS));
        assertEquals("ECONNREFUSED", e.errnoName());
        assertEquals("connect(" + vacated + ") failed: ECONNREFUSED", e.getMessage());
    }

    private static void assertBetween(int low, int high, int actual) {
        assertTrue(actual >= low && actual <= high, actual + " is not in " + low + ".." + high);
    }

    private static void assumeLoopbackExists(InetAddress ip) throws SocketException {
        assumeTrue(NetworkInterface.getByInetAddress(ip) != null,
                "this host has no loopback interface with " + ip.getHostAddress() + " (no IPv6?)");
    }
}
