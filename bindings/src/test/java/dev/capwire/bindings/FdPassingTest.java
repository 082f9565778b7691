package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SortedMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Fds passed to a child JVM over a Unix socket, each proved by moving real bytes through it. */
@ExtendWith(LeakCheck.class)
class FdPassingTest {
    @TempDir(factory = SocketDirFactory.class)
    Path dir;

    private ConnectedChild connect() throws IOException {
        return ConnectedChild.over(SocketDirFactory.socketIn(dir, "fds.sock"));
    }

    @Test
    void theChildWritesIntoThePassedWriteEndOfAPipe() throws Exception {
        try (ConnectedChild connection = connect(); Pipes pipes = new Pipes(1)) {
            assertEquals(1, connection.accepted.send(Io.direct("p"), pipes.writeEnds()));
            pipes.closeWriteEnds();
            assertEquals(1, PeerChild.receive(connection.child, 4));

            connection.child.ask("write-fd 0 written-by-the-child");
            assertEquals("written-by-the-child", Io.readText(pipes.readEnd(0), "written-by-the-child".length()));
            connection.child.ask("close-fds");
            assertEquals("", Io.readToEnd(pipes.readEnd(0)), "the child held the only write end left");
        }
    }

    @Test
    void theChildReadsAFileThroughThePassedReadOnlyFd() throws Exception {
        Path file = Files.writeString(dir.resolve("content.txt"), "first line\nsecond line");
        try (ConnectedChild connection = connect()) {
            try (FileDescriptor readOnly = FileDescriptor.openRead(file)) {
                assertEquals(1, connection.accepted.send(Io.direct("f"), readOnly));
            }
            assertEquals(1, PeerChild.receive(connection.child, 1));
            assertEquals("first line\nsecond line", connection.child.ask("read-fd 0"));
        }
    }

    @Test
    void severalFdsInOneMessageArriveInOrderAndCloseOnExec() throws Exception {
        Path file = Files.writeString(dir.resolve("fourth.txt"), "the fourth fd");
        try (ConnectedChild connection = connect(); Pipes pipes = new Pipes(3);
                FileDescriptor readOnly = FileDescriptor.openRead(file)) {
            FileDescriptor[] four = {pipes.writeEnd(0), pipes.writeEnd(1), pipes.writeEnd(2), readOnly};
            assertEquals(3, connection.accepted.send(Io.direct("abc"), four));
            pipes.closeWriteEnds();
            assertEquals(4, PeerChild.receive(connection.child, 8));

            assertEquals("true true true true", connection.child.ask("close-on-exec"));
            for (int i = 0; i < 3; i++) {
                connection.child.ask("write-fd " + i + " pipe-" + i);
            }
            for (int i = 0; i < 3; i++) {
                assertEquals("pipe-" + i, Io.readText(pipes.readEnd(i), ("pipe-" + i).length()));
            }
            assertEquals("the fourth fd", connection.child.ask("read-fd 3"));
        }
    }

    /**
     * Too little room for the fds that arrive: the receive fails and every fd that came is closed. The
     * cases cover both ways the kernel signals it: MSG_CTRUNC, and (since CMSG_SPACE rounds up to 8 bytes)
     * more fds delivered than {@code maxFds} without it.
     */
    @ParameterizedTest(name = "{1} fds sent, room for {0}")
    @CsvSource({"0, 1", "1, 2", "1, 3", "2, 3", "3, 4"})
    void aReceiveWithTooLittleRoomFailsAndLeaksNothing(int maxFds, int sent) throws Exception {
        try (SocketPair pair = new SocketPair(); Pipes pipes = new Pipes(sent)) {
            NativeSocket sender = pair.first;
            NativeSocket receiver = pair.second;
            assertEquals(1, sender.send(Io.direct("t"), pipes.writeEnds()));
            pipes.closeWriteEnds();
            assertTrue(receiver.fd().awaitReadable(Io.TIMEOUT_MS));

            SortedMap<Integer, String> before = ProcSelf.openFds();
            NativeIoException.FdsTruncatedException truncated = assertThrows(
                    NativeIoException.FdsTruncatedException.class,
                    () -> receiver.receive(ByteBuffer.allocateDirect(16), maxFds));
            assertEquals(before, ProcSelf.openFds());
            assertEquals("recvmsg", truncated.call());
            assertEquals("EMSGSIZE", truncated.errnoName());
            pipes.assertEveryWriteEndIsGone();
        }
    }

    @Test
    void aChildReceivingWithTooLittleRoomFailsLeaksNothingAndCanReceiveAgain() throws Exception {
        try (ConnectedChild connection = connect()) {
            PeerChild.openFds(connection.child); // loads what listing fds needs before the count that matters
            String before = PeerChild.openFds(connection.child);
            try (Pipes pipes = new Pipes(2)) {
                assertEquals(1, connection.accepted.send(Io.direct("2"), pipes.writeEnds()));
                pipes.closeWriteEnds();
                ChildJvm.CommandFailedException failure = assertThrows(ChildJvm.CommandFailedException.class,
                        () -> PeerChild.receive(connection.child, 1));
                assertEquals(NativeIoException.FdsTruncatedException.class.getName(), failure.thrownClass());
                assertEquals(before, PeerChild.openFds(connection.child));
                pipes.assertEveryWriteEndIsGone();
            }
            try (Pipes pipes = new Pipes(1)) {
                assertEquals(1, connection.accepted.send(Io.direct("1"), pipes.writeEnds()));
                pipes.closeWriteEnds();
                assertEquals(1, PeerChild.receive(connection.child, 1));
                connection.child.ask("write-fd 0 still-works");
                assertEquals("still-works", Io.readText(pipes.readEnd(0), "still-works".length()));
            }
        }
    }
}
