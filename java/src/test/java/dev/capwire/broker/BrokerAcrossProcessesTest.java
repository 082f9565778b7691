package dev.capwire.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeRefusedException;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.handshake.ReconnectingClient;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.RawFrames;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.HelloReply;
import dev.capwire.wire.proto.Negotiated;
import dev.capwire.wire.proto.RefusedCode;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The broker with each party in its own process: the broker and the backend in child JVMs, the client here.
 * What the backend answers names its own pid and the kernel's credentials for the socket the call came on, so
 * a test can tell a handed-over socket (the client's own pid, through the broker) from the fallback path.
 */
class BrokerAcrossProcessesTest {
    private static final long WAIT_SECONDS = 30;
    private static final long ACK_MS = 400;

    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cwb");

    private final List<ChildJvm> children = new ArrayList<>();
    private Transport transport;
    private Endpoint brokerAddress;
    private Endpoint backendAddress;
    private static int round;

    @BeforeEach
    void start() throws Exception {
        round++;
        brokerAddress = SOCKETS.endpoint("broker" + round);
        backendAddress = SOCKETS.endpoint("backend" + round);
        transport = Transport.create(TransportOptions.defaults());
    }

    @AfterEach
    void stop() {
        transport.close();
        children.forEach(ChildJvm::close);
    }

    private ChildJvm broker(String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of(brokerAddress.toString(), Long.toString(ACK_MS)));
        args.addAll(List.of(extra));
        ChildJvm broker = ChildJvm.start(BrokerMain.class, args.toArray(new String[0]));
        children.add(broker);
        broker.expect("READY", WAIT_SECONDS);
        return broker;
    }

    private ChildJvm backend(String mode) throws Exception {
        ChildJvm backend = ChildJvm.start(BackendMain.class, mode, brokerAddress.toString(), backendAddress.toString(),
                Long.toString(ACK_MS));
        children.add(backend);
        return backend;
    }

    private ChildJvm registeredBackend(String mode, ChildJvm broker) throws Exception {
        ChildJvm backend = backend(mode);
        backend.expect("READY", WAIT_SECONDS);
        broker.expect("REGISTERED echo", WAIT_SECONDS);
        return backend;
    }

    private NegotiatedConnection connect(ClientOptions options) throws Exception {
        return HandshakeClient.connect(transport, brokerAddress, options, (connection, frame) -> { });
    }

    private static ClientOptions echo() {
        return ClientOptions.builder(BackendMain.SERVICE).noSecret().build();
    }

    /** The backend's answer: its pid, and the pid and uid the kernel gives for the caller's socket. */
    private static long[] call(NegotiatedConnection connection) {
        byte[] ask = "who".getBytes(StandardCharsets.US_ASCII);
        String answer = new String(connection.connection().call(2, 1, new UnsafeBuffer(ask), 0, ask.length, 10_000)
                .payload(), StandardCharsets.US_ASCII);
        String[] parts = answer.split(" ");
        return new long[] {Long.parseLong(parts[0]), Long.parseLong(parts[1]), Long.parseLong(parts[2])};
    }

    private static long ownUid() throws Exception {
        return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
    }

    @Test
    void theBackendServesTheClientsOwnSocketAndSeesItsRealPidAndUid() throws Exception {
        ChildJvm broker = broker();
        ChildJvm backend = registeredBackend("ack", broker);
        try (NegotiatedConnection connection = connect(echo())) {
            assertTrue(connection.handedOff(), "the broker handed the socket over");
            long[] answer = call(connection);
            assertEquals(backend.pid(), answer[0], "the backend answered");
            assertEquals(ProcessHandle.current().pid(), answer[1], "the backend sees this process, not the broker");
            assertEquals(ownUid(), answer[2]);
            broker.expect("HANDED_OFF echo " + ProcessHandle.current().pid(), WAIT_SECONDS);
        }
    }

    @Test
    void killingTheBrokerAfterTheHandoffLeavesTheConversationWorking() throws Exception {
        ChildJvm broker = broker();
        ChildJvm backend = registeredBackend("ack", broker);
        try (NegotiatedConnection connection = connect(echo())) {
            assertEquals(backend.pid(), call(connection)[0]);
            broker.expect("HANDED_OFF", WAIT_SECONDS);
            broker.kill();
            for (int i = 0; i < 10; i++) {
                assertEquals(backend.pid(), call(connection)[0], "nothing went through the broker");
            }
            assertTrue(connection.connection().isOpen());
        }
    }

    @Test
    void aBackendThatNeverAcknowledgesSendsTheClientToItsOwnAddress() throws Exception {
        ChildJvm broker = broker();
        ChildJvm backend = registeredBackend("silent", broker);
        try (NegotiatedConnection connection = connect(echo())) {
            assertFalse(connection.handedOff(), "the client reconnected to the backend address itself");
            long[] answer = call(connection);
            assertEquals(backend.pid(), answer[0]);
            assertEquals(ProcessHandle.current().pid(), answer[1]);
            backend.expect("HANDOFF echo " + ProcessHandle.current().pid(), WAIT_SECONDS);
            broker.expect("FALLBACK echo the backend did not acknowledge", WAIT_SECONDS);
        }
    }

    @Test
    void anAcknowledgementAfterTheDeadlineIsRefusedAsExpired() throws Exception {
        ChildJvm broker = broker();
        ChildJvm backend = registeredBackend("late", broker);
        try (NegotiatedConnection connection = connect(echo())) {
            assertFalse(connection.handedOff());
            assertEquals(backend.pid(), call(connection)[0]);
            assertEquals("false token already expired", backend.expect("CONFIRMED ", WAIT_SECONDS));
            broker.expect("TOKEN_REFUSED token already expired", WAIT_SECONDS);
        }
    }

    @Test
    void tokensAreSingleUseAndBoundToTheirService() throws Exception {
        ChildJvm broker = broker();
        ChildJvm backend = registeredBackend("tokens", broker);
        try (NegotiatedConnection connection = connect(echo())) {
            assertTrue(connection.handedOff());
            assertEquals(backend.pid(), call(connection)[0]);
            assertEquals("false unknown token", backend.expect("CONFIRMED ", WAIT_SECONDS));
            assertEquals("false token issued for service 'echo', not 'other'", backend.expect("CONFIRMED ",
                    WAIT_SECONDS));
            // The right acknowledgement is accepted without an answer; its replay is refused.
            assertEquals("false token already used", backend.expect("CONFIRMED ", WAIT_SECONDS));
            broker.expect("HANDED_OFF echo", WAIT_SECONDS);
        }
    }

    /**
     * A client that does not wait: its Hello and a REQUEST in one write, so the broker reads the REQUEST with
     * the Hello. The broker passes it on as unread bytes, and the backend answers it after its takeover frame.
     */
    @Test
    void aRequestSentWithTheHelloIsAnsweredByTheBackend() throws Exception {
        ChildJvm broker = broker();
        ChildJvm backend = registeredBackend("ack", broker);
        byte[] nonce = new byte[32];
        byte[] hello = Hello.newBuilder().setMinProtocolVersion(1).setMaxProtocolVersion(1)
                .setServiceName(BackendMain.SERVICE).setCapabilities(1).setClientNonce(ByteString.copyFrom(nonce))
                .setMaxFrameBytes(TransportOptions.defaults().maxFrameBytes()).build().toByteArray();
        byte[] ask = "who".getBytes(StandardCharsets.US_ASCII);
        int helloLength = FrameHeader.HEADER_LENGTH + hello.length;
        int requestLength = FrameHeader.HEADER_LENGTH + ask.length;
        ByteBuffer both = ByteBuffer.allocateDirect(helloLength + requestLength);
        UnsafeBuffer view = new UnsafeBuffer(both);
        FrameHeader.write(view, 0, helloLength, FrameType.HELLO, 0, 0, 0, 0, 0);
        view.putBytes(FrameHeader.HEADER_LENGTH, hello);
        FrameHeader.write(view, helloLength, requestLength, FrameType.REQUEST, 0, 1, 2, 1, 0);
        view.putBytes(helloLength + FrameHeader.HEADER_LENGTH, ask);
        try (NativeSocket raw = NativeSocket.connect(brokerAddress.socketAddress(), 5000)) {
            RawFrames.writeFully(raw, both);
            Negotiated fromBroker = HelloReply.parseFrom(RawFrames.readFrame(raw, FrameType.HELLO_REPLY)).getNegotiated();
            assertEquals(16, fromBroker.getHandoffToken().size());
            assertEquals(backendAddress.toString(), fromBroker.getBackendAddress());
            Negotiated fromBackend = HelloReply.parseFrom(RawFrames.readFrame(raw, FrameType.HELLO_REPLY))
                    .getNegotiated();
            assertEquals(fromBroker.getHandoffToken(), fromBackend.getHandoffToken(), "the takeover frame");
            String answer = new String(RawFrames.readFrame(raw, FrameType.RESPONSE), StandardCharsets.US_ASCII);
            assertEquals(backend.pid() + " " + ProcessHandle.current().pid() + " " + ownUid(), answer);
        }
    }

    /** One implementation of the checks: the broker refuses a Hello in the words its backend would. */
    @Test
    void theBrokerRefusesAHelloExactlyAsTheBackendItselfWould() throws Exception {
        ChildJvm broker = broker();
        registeredBackend("ack", broker);
        ClientOptions tooNew = ClientOptions.builder(BackendMain.SERVICE).noSecret().wantedServiceVersion("2.0.0")
                .build();
        HandshakeRefusedException byBroker = assertThrows(HandshakeRefusedException.class, () -> connect(tooNew));
        HandshakeRefusedException byBackend = assertThrows(HandshakeRefusedException.class,
                () -> HandshakeClient.connect(transport, backendAddress, tooNew, (connection, frame) -> { }));
        assertEquals(RefusedCode.SERVICE_UNKNOWN, byBroker.refusedCode());
        assertEquals(byBackend.refusedCode(), byBroker.refusedCode());
        assertEquals(byBackend.reason(), byBroker.reason());
        assertEquals(byBackend.details(), byBroker.details());
    }

    @Test
    void aClientWithoutHandlePassingIsSentToTheBackendAddress() throws Exception {
        ChildJvm broker = broker();
        ChildJvm backend = registeredBackend("ack", broker);
        ClientOptions noFds = ClientOptions.builder(BackendMain.SERVICE).noSecret().capabilities(0).build();
        try (NegotiatedConnection connection = connect(noFds)) {
            assertFalse(connection.handedOff());
            assertEquals(backend.pid(), call(connection)[0]);
            broker.expect("FALLBACK echo no handle passing", WAIT_SECONDS);
        }
    }

    @Test
    void aRegistrationFromAUidThePolicyRefusesFails() throws Exception {
        ChildJvm broker = broker(Long.toString(ownUid() + 1));
        ChildJvm backend = backend("ack");
        String failure = backend.expect("REGISTER_FAILED ", WAIT_SECONDS);
        assertTrue(failure.contains("PERMISSION_DENIED"), failure);
        broker.expect("REGISTRATION_REFUSED PERMISSION_DENIED", WAIT_SECONDS);
    }

    @Test
    void aServiceNameAnotherBackendHoldsIsRefusedAndADisconnectedBackendIsDeregistered() throws Exception {
        ChildJvm broker = broker();
        ChildJvm first = registeredBackend("ack", broker);
        Endpoint firstAddress = backendAddress;
        backendAddress = SOCKETS.endpoint("second" + round);
        ChildJvm second = backend("ack");
        String failure = second.expect("REGISTER_FAILED ", WAIT_SECONDS);
        assertTrue(failure.contains("already registered by another backend (pid " + first.pid() + ")"), failure);
        first.kill();
        broker.expect("DEREGISTERED echo", WAIT_SECONDS);
        HandshakeRefusedException refused = assertThrows(HandshakeRefusedException.class, () -> connect(echo()));
        assertEquals(RefusedCode.SERVICE_UNKNOWN, refused.refusedCode());
        Files.deleteIfExists(Path.of(firstAddress.toString().substring("unix:".length())));
    }

    @Test
    void aRegistrationMessageCarryingAnFdEndsTheRegistration() throws Exception {
        ChildJvm broker = broker();
        ChildJvm backend = registeredBackend("fds", broker);
        String closed = backend.expect("CLOSED ", WAIT_SECONDS);
        assertTrue(closed.contains("PROTOCOL_ERROR") && closed.contains("none belong there"), closed);
        broker.expect("DEREGISTERED echo", WAIT_SECONDS);
        assertEquals("0 0", status(broker), "no backend, no hand-off pending");
    }

    @Test
    void aReconnectingClientFallsBackToTheBackendAddress() throws Exception {
        ChildJvm broker = broker();
        ChildJvm backend = registeredBackend("silent", broker);
        try (ReconnectingClient client = ReconnectingClient.builder(transport, brokerAddress, echo(),
                (connection, frame) -> { }).build()) {
            assertFalse(client.awaitConnected(10_000).handedOff(), "connected to the backend address");
            byte[] ask = "who".getBytes(StandardCharsets.US_ASCII);
            String answer = new String(client.call(2, 1, new UnsafeBuffer(ask), 0, ask.length, 10_000).payload(),
                    StandardCharsets.US_ASCII);
            assertTrue(answer.startsWith(backend.pid() + " " + ProcessHandle.current().pid() + " "), answer);
            broker.expect("FALLBACK echo the backend did not acknowledge", WAIT_SECONDS);
        }
    }

    @Test
    void anActivatedBackendIsStartedForTheFirstClientAndStoppedWithTheBroker() throws Exception {
        ChildJvm broker = broker("activate:ack:" + backendAddress);
        try (ReconnectingClient client = ReconnectingClient.builder(transport, brokerAddress, echo(),
                (connection, frame) -> { }).build()) {
            assertTrue(client.awaitConnected(WAIT_SECONDS * 1000).handedOff(), "handed off once registered");
            long launched = Long.parseLong(broker.expect("LAUNCHED echo ", WAIT_SECONDS));
            broker.expect("REGISTERED echo", WAIT_SECONDS);
            byte[] ask = "who".getBytes(StandardCharsets.US_ASCII);
            String answer = new String(client.call(2, 1, new UnsafeBuffer(ask), 0, ask.length, 10_000).payload(),
                    StandardCharsets.US_ASCII);
            assertTrue(answer.startsWith(launched + " " + ProcessHandle.current().pid() + " "), answer);
            ProcessHandle child = ProcessHandle.of(launched).orElseThrow();
            broker.close(); // stdin closes: the broker stops, and stops its children
            child.onExit().get(WAIT_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    /**
     * capwire.broker.idleStopMs: the backend reports its live connections (Load); at zero for the idle time the
     * broker stops it, without a restart, and the next Hello starts a new one.
     */
    @Test
    void anIdleActivatedBackendIsStoppedAndStartedAgainByTheNextHello() throws Exception {
        ChildJvm broker = broker("activate:ack:" + backendAddress, "2000"); // well above the 250 ms reports
        long first;
        try (ReconnectingClient client = ReconnectingClient.builder(transport, brokerAddress, echo(),
                (connection, frame) -> { }).build()) {
            assertTrue(client.awaitConnected(WAIT_SECONDS * 1000).handedOff(), "handed off once registered");
            first = Long.parseLong(broker.expect("LAUNCHED echo ", WAIT_SECONDS));
            Thread.sleep(2500); // longer than the idle time: a backend with a client is not stopped
            byte[] ask = "who".getBytes(StandardCharsets.US_ASCII);
            String answer = new String(client.call(2, 1, new UnsafeBuffer(ask), 0, ask.length, 10_000).payload(),
                    StandardCharsets.US_ASCII);
            assertTrue(answer.startsWith(first + " "), answer);
        } // the client's connection closes: the backend reports zero
        assertEquals(Long.toString(first), broker.expect("IDLE_STOPPED echo ", WAIT_SECONDS));
        String[] exit = broker.expect("EXITED echo ", WAIT_SECONDS).split(" ");
        assertEquals(Long.toString(first), exit[0]);
        assertEquals("-1", exit[2], "an idle stop is not restarted");
        try (ReconnectingClient client = ReconnectingClient.builder(transport, brokerAddress, echo(),
                (connection, frame) -> { }).build()) {
            assertTrue(client.awaitConnected(WAIT_SECONDS * 1000).handedOff(), "handed off to a new backend");
            long second = Long.parseLong(broker.expect("LAUNCHED echo ", WAIT_SECONDS));
            assertFalse(second == first, "a new process");
            byte[] ask = "who".getBytes(StandardCharsets.US_ASCII);
            String answer = new String(client.call(2, 1, new UnsafeBuffer(ask), 0, ask.length, 10_000).payload(),
                    StandardCharsets.US_ASCII);
            assertTrue(answer.startsWith(second + " "), answer);
        }
    }

    @Test
    void aCrashingActivatedBackendIsRestartedWithBackoff() throws Exception {
        ChildJvm broker = broker("activate:crash:" + backendAddress);
        HandshakeRefusedException starting = assertThrows(HandshakeRefusedException.class, () -> connect(echo()));
        assertEquals(RefusedCode.UNAVAILABLE, starting.refusedCode());
        assertTrue(starting.isRetryable() && starting.retryAfterMs() > 0, starting.getMessage());
        String first = broker.expect("LAUNCHED echo ", WAIT_SECONDS);
        broker.expect("REGISTERED echo", WAIT_SECONDS);
        String[] exit = broker.expect("EXITED echo ", WAIT_SECONDS).split(" ");
        assertEquals(first, exit[0]);
        assertEquals("3", exit[1], "the crash's exit code is reported");
        assertTrue(Long.parseLong(exit[2]) >= 0, "a restart is scheduled");
        String second = broker.expect("LAUNCHED echo ", WAIT_SECONDS);
        assertFalse(first.equals(second), "a new process");
        broker.expect("REGISTERED echo", WAIT_SECONDS);
        broker.expect("EXITED echo " + second + " 3 ", WAIT_SECONDS);
    }

    /**
     * Socket activation: a stand-in service manager (python3: binds the socket, puts it at fd 3, sets LISTEN_PID
     * and LISTEN_FDS, and execs the broker's JVM) passes the listening socket; the broker serves it unbound.
     */
    @Test
    void aBrokerServesTheSocketAServiceManagerPassedIt() throws Exception {
        Path python = Path.of("/usr/bin/python3");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(python), "python3 stands in for systemd");
        String path = brokerAddress.toString().substring("unix:".length());
        String manager = "import os, socket, sys\n"
                + "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                + "s.bind(sys.argv[1]); s.listen(64); s.setblocking(False)\n" // systemd: NonBlocking=yes
                + "os.dup2(s.fileno(), 3)\n"
                + "os.set_inheritable(3, True)\n" // dup2 onto itself (the socket may be fd 3) changes nothing
                + "os.environ['LISTEN_FDS'] = '1'; os.environ['LISTEN_PID'] = str(os.getpid())\n"
                + "os.execv(sys.argv[2], sys.argv[2:])\n";
        ChildJvm broker = ChildJvm.startWrapped(List.of(python.toString(), "-c", manager, path), BrokerMain.class,
                brokerAddress.toString(), Long.toString(ACK_MS), "inherited");
        children.add(broker);
        broker.expect("READY", WAIT_SECONDS);
        ChildJvm backend = registeredBackend("ack", broker);
        try (NegotiatedConnection connection = connect(echo())) {
            assertTrue(connection.handedOff());
            assertEquals(backend.pid(), call(connection)[0]);
        }
        broker.close();
        Files.deleteIfExists(Path.of(path)); // the service manager's to remove
    }

    private static String status(ChildJvm broker) throws Exception {
        broker.send("status");
        return broker.expect("STATUS ", WAIT_SECONDS);
    }

    @Test
    void aThousandHandoffsLeaveNoFdsBehindInTheBrokerOrTheBackend() throws Exception {
        ChildJvm broker = broker();
        ChildJvm backend = registeredBackend("ack", broker);
        handoffs(20); // warm-up: classes loaded, buffers pooled
        long brokerFds = fds(broker);
        long backendFds = fds(backend);
        String brokerKinds = kinds(broker);
        handoffs(1000);
        long brokerAfter = settledFds(broker, brokerFds);
        assertEquals(brokerFds, brokerAfter, () -> "broker fds " + brokerKinds + " then " + kinds(broker));
        assertEquals(backendFds, settledFds(backend, backendFds), "backend fds");
    }

    /** {@code count} hand-offs, one after another; Hellos past the broker's rate limit wait as it says. */
    private void handoffs(int count) throws Exception {
        for (int i = 0; i < count; i++) {
            NegotiatedConnection connection;
            try {
                connection = connect(echo());
            } catch (HandshakeRefusedException limited) {
                assertEquals(RefusedCode.RATE_LIMITED, limited.refusedCode(), limited.getMessage());
                Thread.sleep(limited.retryAfterMs());
                i--;
                continue;
            }
            try (connection) {
                assertTrue(connection.handedOff());
                call(connection);
            }
        }
    }

    private static String kinds(ChildJvm child) {
        try {
            child.send("fdkinds");
            return child.expect("FDKINDS ", WAIT_SECONDS);
        } catch (Exception e) {
            return "(unknown: " + e + ")";
        }
    }

    private static long fds(ChildJvm child) throws Exception {
        child.send("fds");
        return Long.parseLong(child.expect("FDS ", WAIT_SECONDS));
    }

    /** The child's fd count once it stops moving toward {@code expected} (closes finish on their own loops). */
    private static long settledFds(ChildJvm child, long expected) throws Exception {
        long now = fds(child);
        for (int i = 0; i < 50 && now != expected; i++) {
            Thread.sleep(100);
            now = fds(child);
        }
        return now;
    }
}
