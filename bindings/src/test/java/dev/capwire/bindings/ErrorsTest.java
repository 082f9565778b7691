package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

@ExtendWith(LeakCheck.class)
class ErrorsTest {
    @TempDir(factory = SocketDirFactory.class)
    Path dir;

    @Test
    void whatAPlatformLacksSaysWhichPlatform() {
        NativeIoException lacking = Errors.exception("socketpair", Errno.EOPNOTSUPP, null);
        assertTrue(lacking.getMessage().contains("socketpair"), lacking.getMessage());
        assertTrue(lacking.getMessage().contains("not supported on " + Platform.current()), lacking.getMessage());
        NativeIoException aboutSomething = Errors.exception("sendmsg", Errno.EOPNOTSUPP, "fd 7");
        assertTrue(aboutSomething.getMessage().contains("fd 7, not supported on os="), aboutSomething.getMessage());
    }

    @Test
    void connectingToAMissingPathNamesENOENTAndThePath() {
        UnixAddress missing = SocketDirFactory.socketIn(dir, "nobody-here.sock");
        NativeIoException.NoListenerException e = assertThrows(NativeIoException.NoListenerException.class,
                () -> NativeSocket.connect(missing, Io.TIMEOUT_MS));
        assertEquals("connect", e.call());
        assertEquals("ENOENT", e.errnoName());
        assertEquals(missing.toString(), e.subject());
        assertEquals("connect(" + missing + ") failed: ENOENT", e.getMessage());
    }

    @Test
    void connectingToAnAbstractNameNobodyListensOnNamesECONNREFUSED() {
        UnixAddress missing = UnixAddress.abstractName("capwire-test-nobody-" + ProcessHandle.current().pid());
        NativeIoException.NoListenerException e = assertThrows(NativeIoException.NoListenerException.class,
                () -> NativeSocket.connect(missing, Io.TIMEOUT_MS));
        assertEquals("ECONNREFUSED", e.errnoName());
        assertTrue(e.getMessage().contains("unix:@capwire-test-nobody-"), e.getMessage());
    }

    @Test
    @SuppressWarnings("try") // some resources are held open only to be closed at the end
    void bindingAPathInUseNamesEADDRINUSEAndThePath() throws Exception {
        UnixAddress taken = SocketDirFactory.socketIn(dir, "taken.sock");
        try (NativeSocket first = NativeSocket.listen(taken, 1)) {
            NativeIoException.AddressInUseException e = assertThrows(
                    NativeIoException.AddressInUseException.class, () -> NativeSocket.listen(taken, 1));
            assertEquals("bind", e.call());
            assertEquals("EADDRINUSE", e.errnoName());
            assertEquals("bind(" + taken + ") failed: EADDRINUSE", e.getMessage());
        }
        assertTrue(Files.exists(dir.resolve("taken.sock")), "closing a listener leaves its socket file behind");
        assertThrows(NativeIoException.AddressInUseException.class, () -> NativeSocket.listen(taken, 1),
                "so the path stays taken until someone deletes it");
    }

    @Test
    void writingToAClosedSocketPairPeerIsPeerGone() throws Exception {
        try (SocketPair pair = new SocketPair()) {
            pair.second.close();
            NativeIoException.PeerGoneException e = assertThrows(NativeIoException.PeerGoneException.class,
                    () -> pair.first.write(Io.direct("lost")));
            assertEquals("EPIPE", e.errnoName());
            assertEquals("write", e.call());
        }
    }

    @Test
    void writingToAKilledChildIsPeerGoneAndThisJvmCarriesOn() throws Exception {
        try (ConnectedChild connection = ConnectedChild.over(SocketDirFactory.socketIn(dir, "killed.sock"))) {
            connection.child.kill();
            for (int attempt = 0; attempt < 2; attempt++) {
                NativeIoException.PeerGoneException e = assertThrows(NativeIoException.PeerGoneException.class,
                        () -> connection.accepted.write(Io.direct("anyone there?")));
                assertTrue(e.errnoName().equals("EPIPE") || e.errnoName().equals("ECONNRESET"), e.getMessage());
            }
        }
    }

    @Test
    void aChildWritingToThisClosedEndGetsPeerGoneAndKeepsAnswering() throws Exception {
        try (ConnectedChild connection = ConnectedChild.over(SocketDirFactory.socketIn(dir, "closed.sock"))) {
            connection.accepted.close();
            ChildJvm.CommandFailedException failure = assertThrows(ChildJvm.CommandFailedException.class,
                    () -> connection.child.ask("send hello"));
            assertEquals(NativeIoException.PeerGoneException.class.getName(), failure.thrownClass());
            assertTrue(failure.messageOf(NativeIoException.PeerGoneException.class).endsWith("failed: EPIPE"),
                    failure.getMessage());
            assertEquals(connection.child.pid(), PeerChild.identity(connection.child).pid().getAsLong(),
                    "the child is alive: no SIGPIPE");
        }
    }

    @Test
    void readingAtEndOfInputReturnsMinusOne() throws Exception {
        try (SocketPair pair = new SocketPair()) {
            NativeSocket a = pair.first;
            NativeSocket b = pair.second;
            Io.writeFully(a.fd(), "last");
            a.shutdownOutput();
            assertEquals("last", Io.readText(b.fd(), 4));
            assertEquals(-1, b.read(ByteBuffer.allocateDirect(8)));
            assertEquals(-1, b.receive(ByteBuffer.allocateDirect(8), 4).bytes());
            assertEquals(0, b.receive(ByteBuffer.allocateDirect(8), 4).fds().length);
            assertEquals(0, a.read(ByteBuffer.allocateDirect(8)), "the other direction is open and empty");
        }
        try (Pipes pipe = new Pipes(1)) {
            pipe.closeWriteEnds();
            assertEquals(-1, pipe.readEnd(0).read(ByteBuffer.allocateDirect(8)));
        }
    }

    @Test
    void closingTwiceIsHarmlessAndNeverClosesAReusedNumber() throws Exception {
        FileDescriptor[] first = FileDescriptor.pipe();
        first[0].close();
        first[1].close();
        FileDescriptor[] reused = FileDescriptor.pipe(); // the kernel hands out the lowest free numbers again
        try (FileDescriptor readEnd = reused[0]; FileDescriptor writeEnd = reused[1]) {
            first[0].close();
            first[1].close();
            Io.writeFully(writeEnd, "alive");
            assertEquals("alive", Io.readText(readEnd, 5));
        }

        NativeSocket[] pair = NativeSocket.pair();
        pair[0].close();
        pair[0].close();
        pair[1].close();
        pair[1].close();
        assertFalse(pair[0].fd().isOpen());
    }

    @Test
    void everyMethodOfAClosedFileDescriptorThrowsClosedException() throws Exception {
        FileDescriptor[] pipe = FileDescriptor.pipe();
        pipe[1].close();
        FileDescriptor closed = pipe[0];
        closed.close();
        assertAllClosed(
                closed::acquire,
                () -> closed.read(ByteBuffer.allocateDirect(1)),
                () -> closed.write(Io.direct("x")),
                () -> closed.awaitReadable(0),
                () -> closed.awaitWritable(0),
                closed::isCloseOnExec);
        assertTrue(closed.toString().endsWith("(closed)"), closed.toString());
    }

    @Test
    void everyMethodOfAClosedNativeSocketThrowsClosedException() throws Exception {
        NativeSocket[] pair = NativeSocket.pair();
        pair[1].close();
        NativeSocket closed = pair[0];
        closed.close();
        assertAllClosed(
                closed::accept,
                () -> closed.accept(10),
                () -> closed.read(ByteBuffer.allocateDirect(1)),
                () -> closed.write(Io.direct("x")),
                () -> closed.send(Io.direct("x")),
                () -> closed.receive(ByteBuffer.allocateDirect(1), 1),
                closed::peerCredentials,
                closed::localAddress,
                closed::remoteAddress,
                () -> closed.setOption(Native.OPT_SNDBUF, 4096),
                () -> closed.getOption(Native.OPT_SNDBUF),
                closed::shutdownInput,
                closed::shutdownOutput);
    }

    @Test
    void sendingAClosedFdFailsAndLeavesTheSocketUsable() throws Exception {
        try (SocketPair pair = new SocketPair(); Pipes pipes = new Pipes(2)) {
            FileDescriptor open = pipes.writeEnd(0);
            FileDescriptor gone = pipes.writeEnd(1);
            gone.close();
            assertThrows(FileDescriptor.ClosedException.class, () -> pair.first.send(Io.direct("x"), open, gone));
            assertEquals(1, pair.first.send(Io.direct("y"), open), "every use taken before the failure was returned");
            assertTrue(pair.second.fd().awaitReadable(Io.TIMEOUT_MS));
            FileDescriptor[] arrived = pair.second.receive(ByteBuffer.allocateDirect(4), 2).fds();
            assertEquals(1, arrived.length);
            arrived[0].close();
        }
    }

    @Test
    void theMessageNamesCallErrnoSymbolAndSubject() {
        NativeIoException withSubject = new NativeIoException("connect", Errno.ECONNREFUSED, "unix:@service");
        assertEquals("connect(unix:@service) failed: ECONNREFUSED", withSubject.getMessage());
        assertEquals("ECONNREFUSED", withSubject.errnoName());
        assertEquals(Errno.ECONNREFUSED, withSubject.errno());

        assertEquals("epoll_wait failed: EINTR", new NativeIoException("epoll_wait", Errno.EINTR, null).getMessage());
        assertEquals("read(fd 7) failed: errno 9999", new NativeIoException("read", 9999, "fd 7").getMessage());

        NativeIoException truncated = Errors.exception("recvmsg", Errno.EMSGSIZE, "socket fd 9");
        assertInstanceOf(NativeIoException.FdsTruncatedException.class, truncated);
        assertTrue(truncated.getMessage().startsWith("recvmsg(socket fd 9) failed: EMSGSIZE"), truncated.getMessage());
    }

    @Test
    void errnoValuesMapToTheirExceptionTypes() throws Exception {
        assertInstanceOf(NativeIoException.PeerGoneException.class, Errors.exception("write", Errno.EPIPE, null));
        assertInstanceOf(NativeIoException.PeerGoneException.class, Errors.exception("read", Errno.ECONNRESET, null));
        assertInstanceOf(NativeIoException.AddressInUseException.class, Errors.exception("bind", Errno.EADDRINUSE, null));
        assertInstanceOf(NativeIoException.NoListenerException.class, Errors.exception("connect", Errno.ENOENT, null));
        assertInstanceOf(NativeIoException.NoListenerException.class,
                Errors.exception("connect", Errno.ECONNREFUSED, null));
        assertEquals(NativeIoException.class, Errors.exception("open", Errno.ENOENT, null).getClass(),
                "ENOENT means no listener only for connect");
        assertEquals(NativeIoException.class, Errors.exception("send", Errno.EMSGSIZE, null).getClass(),
                "EMSGSIZE means truncated fds only for recvmsg");
        assertEquals(5, Errors.check(5, "read", null));
        assertEquals(5L, Errors.check(5L, "writev", null));
    }

    private static void assertAllClosed(Executable... calls) {
        assertAll(Arrays.stream(calls).map(call -> () -> {
            FileDescriptor.ClosedException e = assertThrows(FileDescriptor.ClosedException.class, call);
            assertEquals("EBADF", e.errnoName());
            assertTrue(e.getMessage().contains("already closed"), e.getMessage());
        }));
    }
}
