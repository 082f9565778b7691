package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.bindings.UnixAddress;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.Leaks;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Unix socket files across server lifetimes: a stale file left by a server killed with SIGKILL (in a child
 * JVM) is replaced, a live server's is not, nor is a file that is not a socket, and a server removes its own
 * file on close, but only its own.
 */
class SocketFileTest {
    /** Held: java.util.logging keeps loggers only weakly, and the handler must stay attached. */
    private static final Logger SOCKET_FILE_LOG = Logger.getLogger(SocketFile.class.getName());

    private final List<LogRecord> logged = new CopyOnWriteArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            logged.add(record);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    private TreeMap<Integer, String> fdsBefore;
    private Path dir;
    private Path path;
    private Endpoint endpoint;
    private Transport transport;

    /**
     * The JDK's first file channel (Files.writeString in one test) opens a socket that NIO keeps for the life
     * of the JVM (FileDispatcherImpl's pre-close fd): open it before the first snapshot, so the leak check
     * sees only what a test leaves.
     */
    @BeforeAll
    static void warmUp() throws Exception {
        Path file = Files.createTempFile("cwf", ".warm-up");
        Files.writeString(file, "warm-up");
        Files.delete(file);
    }

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwf"); // first: its SecureRandom opens /dev/urandom for good
        fdsBefore = Leaks.openFds();
        path = dir.resolve("s.sock");
        endpoint = Endpoint.unix(path);
        transport = Transport.create(TransportOptions.defaults());
        SOCKET_FILE_LOG.addHandler(capture);
    }

    @AfterEach
    void stop() throws Exception {
        SOCKET_FILE_LOG.removeHandler(capture);
        transport.close();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Files.delete(file);
            }
        }
        Files.delete(dir);
        assertNull(Leaks.fdsLeftOver(fdsBefore), "fds left open by the test");
    }

    @Test
    void aFileLeftByAServerKilledWithSigkillIsReplacedAndTheNewServerServes() throws Exception {
        try (ChildJvm child = echoServerInChild()) {
            child.kill(); // Process.destroyForcibly: SIGKILL, no chance to remove the file
        }
        assertTrue(Files.exists(path, LinkOption.NOFOLLOW_LINKS), "the killed server left no file: nothing to test");
        assertThrows(NativeIoException.NoListenerException.class, () -> NativeSocket.connect(address(), 1000).close());

        try (Server server = transport.listen(endpoint, EchoServerMain::echo)) {
            assertEquals("echo me", echo());
            assertEquals(1, logged.size(), "one log line: " + messages());
            assertTrue(logged.get(0).getMessage().contains("replaced stale socket file " + path), String.valueOf(messages()));
        }
        assertFalse(Files.exists(path, LinkOption.NOFOLLOW_LINKS), "the server's file outlived its close");
    }

    @Test
    void aSecondServerOnALiveServersPathFailsSayingSoAndTheFirstKeepsServing() throws Exception {
        try (ChildJvm child = echoServerInChild()) {
            Object childsFile = identity();
            NativeIoException failure = assertThrows(NativeIoException.AddressInUseException.class,
                    () -> transport.listen(endpoint, EchoServerMain::echo));
            assertTrue(failure.getMessage().contains("another server is listening on " + path), failure.getMessage());
            assertEquals(childsFile, identity(), "the live server's file was touched");
            assertEquals("echo me", echo()); // the child answers: its file and socket are intact
            assertEquals(List.of(), messages());
        }
    }

    @Test
    void aPathThatIsNotASocketFailsSayingSoAndIsLeftAlone() throws Exception {
        Files.writeString(path, "not a socket");
        NativeIoException failure = assertThrows(NativeIoException.AddressInUseException.class,
                () -> transport.listen(endpoint, EchoServerMain::echo));
        assertTrue(failure.getMessage().contains("is not a socket"), failure.getMessage());
        assertEquals("not a socket", Files.readString(path));
    }

    @Test
    void closingAServerRemovesItsSocketFile() throws Exception {
        Server server = transport.listen(endpoint, EchoServerMain::echo);
        assertTrue(Files.exists(path, LinkOption.NOFOLLOW_LINKS));
        server.close();
        assertFalse(Files.exists(path, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void aFileReplacedAfterBindIsNotRemovedWhenTheServerCloses() throws Exception {
        Server server = transport.listen(endpoint, EchoServerMain::echo);
        Files.delete(path);
        try (NativeSocket replacement = NativeSocket.listen(address(), 1)) {
            Object replacementFile = identity();
            server.close();
            assertEquals(replacementFile, identity(), "closing the server removed a file it did not create");
            NativeSocket.connect(address(), 1000).close(); // and the replacement still takes connections there
        }
    }

    @Test
    void withReplacementOffAStaleFileFailsSayingSoAndStays() throws Exception {
        NativeSocket.listen(address(), 1).close(); // closing a socket leaves its file: stale
        Object staleFile = identity();
        TransportOptions replacingOff = TransportOptions.builder().replaceStaleSocketFile(false).build();
        try (Transport noReplacing = Transport.create(replacingOff)) {
            NativeIoException failure = assertThrows(NativeIoException.AddressInUseException.class,
                    () -> noReplacing.listen(endpoint, EchoServerMain::echo));
            assertTrue(failure.getMessage().contains("stale socket file"), failure.getMessage());
            assertTrue(failure.getMessage().contains("capwire.replaceStaleSocketFile=false"), failure.getMessage());
        }
        assertEquals(staleFile, identity());
        // And the same file is replaced with replacement on (the default): only the option made the difference.
        transport.listen(endpoint, EchoServerMain::echo).close();
        assertEquals(1, logged.size(), String.valueOf(messages()));
    }

    private ChildJvm echoServerInChild() throws Exception {
        ChildJvm child = ChildJvm.start(EchoServerMain.class, endpoint.toString());
        try {
            child.expect("READY", 60);
        } catch (Exception | Error e) {
            child.close();
            throw e;
        }
        return child;
    }

    /** One request through a fresh connection to the endpoint; returns the reply's text. */
    private String echo() throws Exception {
        try (Transport client = Transport.create(TransportOptions.defaults())) {
            Connection connection = client.connect(endpoint, (c, frame) -> { });
            UnsafeBuffer payload = new UnsafeBuffer("echo me".getBytes(StandardCharsets.UTF_8));
            Response reply = connection.call(2, 0, payload, 0, payload.capacity(), 10_000);
            return new String(reply.payload(), StandardCharsets.UTF_8);
        }
    }

    private UnixAddress address() {
        return UnixAddress.path(path);
    }

    /** Device and inode of the file at the path now. */
    private Object identity() throws Exception {
        Map<String, Object> attributes = Files.readAttributes(path, "unix:dev,ino", LinkOption.NOFOLLOW_LINKS);
        return List.of(attributes.get("dev"), attributes.get("ino"));
    }

    private List<String> messages() {
        return logged.stream().map(LogRecord::getMessage).collect(Collectors.toList());
    }
}
