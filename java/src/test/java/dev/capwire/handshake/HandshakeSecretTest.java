package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.capwire.Configuration;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.handshake.ClientProcess.Outcome;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Endpoint;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.Challenge;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.HelloReply;
import dev.capwire.wire.proto.RefusedCode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The shared secret with real client processes: right (from a file as hex or raw bytes, or from an
 * environment variable), wrong, missing, and a server that cannot prove it. After each test, everything
 * either side said (the child's stdout and stderr, the server's outcomes and this process's stderr) is
 * searched for the secrets, in hex, raw and base64; so are the bytes a client puts on the wire.
 */
@ExtendWith(NoLeaks.class)
class HandshakeSecretTest {
    private static final String ENV = "CAPWIRE_TEST_SECRET";
    private static Path dir;
    private static byte[] secret;
    private static byte[] wrongSecret;
    private static Path secretHex;
    private static Path secretRaw;
    private static Path wrongHex;

    private ServerSide servers;
    private final List<ClientProcess> clients = new ArrayList<>();
    private final ByteArrayOutputStream ourStderr = new ByteArrayOutputStream();
    private PrintStream originalStderr;

    @BeforeAll
    static void writeSecrets() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "cws");
        secret = printableSecret();
        wrongSecret = printableSecret();
        secretHex = Files.writeString(dir.resolve("secret.hex"), HexFormat.of().formatHex(secret) + "\n");
        secretRaw = Files.write(dir.resolve("secret.bin"), secret);
        wrongHex = Files.writeString(dir.resolve("wrong.hex"), HexFormat.of().formatHex(wrongSecret));
    }

    /**
     * Printable bytes, so the raw secret reads the same in any text a process might print and a search for
     * it cannot miss it for an encoding reason.
     */
    private static byte[] printableSecret() {
        SecureRandom random = new SecureRandom();
        byte[] bytes = new byte[SharedSecret.LENGTH];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) ('!' + random.nextInt('~' - '!' + 1));
        }
        return bytes;
    }

    @AfterAll
    static void removeSecrets() throws Exception {
        try (var files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Files.delete(file);
            }
        }
        Files.delete(dir);
    }

    @BeforeEach
    void start() throws Exception {
        servers = new ServerSide();
        originalStderr = System.err;
        System.setErr(new PrintStream(new TeeStream(originalStderr, ourStderr), true));
    }

    @AfterEach
    void stop() throws Exception {
        try {
            for (ClientProcess client : clients) {
                client.exit();
            }
            StringBuilder said = new StringBuilder(ourStderr.toString(StandardCharsets.ISO_8859_1));
            servers.outcomes.forEach(outcome -> said.append(outcome).append('\n'));
            servers.serviceCloses.forEach(reason -> said.append(reason).append('\n'));
            for (int i = 0; i < clients.size(); i++) {
                said.append(String.join("\n", clients.get(i).jvm().transcript()));
                said.append(Files.readString(stderrOf(i), StandardCharsets.ISO_8859_1));
            }
            assertNoSecretIn(said.toString(), "the logs, outcomes and messages");
        } finally {
            System.setErr(originalStderr);
            clients.forEach(ClientProcess::close);
            servers.close();
        }
    }

    private static void assertNoSecretIn(String text, String where) {
        for (byte[] value : List.of(secret, wrongSecret)) {
            for (String form : List.of(new String(value, StandardCharsets.ISO_8859_1),
                    HexFormat.of().formatHex(value), HexFormat.of().withUpperCase().formatHex(value),
                    Base64.getEncoder().encodeToString(value))) {
                assertFalse(text.contains(form), "a secret (" + form.length() + " characters) appears in " + where);
            }
            // Half of it would be a leak too (a truncated dump, say).
            String half = HexFormat.of().formatHex(value, 0, SharedSecret.LENGTH / 2);
            assertFalse(text.contains(half), "half a secret in hex appears in " + where);
        }
    }

    private Path stderrOf(int index) {
        return dir.resolve("client" + index + ".err");
    }

    private ClientProcess client(List<String> jvmArgs, Map<String, String> environment) throws Exception {
        ClientProcess client = ClientProcess.start(jvmArgs, environment, stderrOf(clients.size()));
        clients.add(client);
        return client;
    }

    private ClientProcess clientWithSecretFile(Path file) throws Exception {
        return client(List.of("-D" + Configuration.SECRET_FILE_PROP_NAME + "=" + file), Map.of());
    }

    private Endpoint serverWithSecret() throws Exception {
        return servers.listen("secret", servers.echoServer().secret(SharedSecret.fromFile(secretRaw)));
    }

    private void assertNegotiated(ClientProcess client, Endpoint endpoint, String... options) throws Exception {
        Outcome outcome = client.connect(endpoint, options);
        assertTrue(outcome.negotiated(), outcome.line());
        assertEquals("OK", client.call());
        HandshakeOutcome heard = servers.nextOutcome();
        assertTrue(heard.accepted(), heard.toString());
        assertEquals(client.pid(), heard.credentials().pid().getAsLong());
    }

    private void assertUnauthenticated(ClientProcess client, Endpoint endpoint, String reason, String... options)
            throws Exception {
        Outcome outcome = client.connect(endpoint, options);
        assertEquals("REFUSED UNAUTHENTICATED", outcome.kind() + " " + outcome.code(), outcome.line());
        assertTrue(outcome.message().contains(reason), outcome.line());
        HandshakeOutcome heard = servers.nextOutcome();
        assertEquals(RefusedCode.UNAUTHENTICATED, heard.code(), heard.toString());
        assertEquals(client.pid(), heard.credentials().pid().getAsLong());
    }

    @Test
    void theSecretFromAFileAsHexOrRawBytesIsProven() throws Exception {
        Endpoint endpoint = serverWithSecret();
        ClientProcess client = clientWithSecretFile(secretHex);
        assertNegotiated(client, endpoint);
        assertNegotiated(client, endpoint, "secret=file:" + secretRaw);
    }

    @Test
    void theSecretFromAnEnvironmentVariableIsProven() throws Exception {
        Endpoint endpoint = serverWithSecret();
        ClientProcess client = client(List.of("-D" + Configuration.SECRET_ENV_PROP_NAME + "=" + ENV),
                Map.of(ENV, HexFormat.of().withUpperCase().formatHex(secret)));
        assertNegotiated(client, endpoint);
    }

    @Test
    void aWrongOrMissingSecretIsUnauthenticated() throws Exception {
        Endpoint endpoint = serverWithSecret();
        ClientProcess client = clientWithSecretFile(wrongHex);
        assertUnauthenticated(client, endpoint, "proof is wrong");
        assertUnauthenticated(client, endpoint, "proved none", "secret=none");
        assertNegotiated(client, endpoint, "secret=file:" + secretHex); // the server is no worse for it
    }

    @Test
    void aClientWithTheSecretRefusesAServerThatCannotProveIt() throws Exception {
        Endpoint noSecret = servers.listen("nosecret", servers.echoServer());
        ClientProcess client = clientWithSecretFile(secretHex);
        Outcome outcome = client.connect(noSecret);
        assertEquals("FAILED UNAUTHENTICATED", outcome.kind() + " " + outcome.code(), outcome.line());
        assertTrue(outcome.message().contains("did not prove the shared secret"), outcome.line());
        // The server, holding no secret, accepted; it then hears the client walk away, with the reason.
        assertTrue(servers.nextOutcome().accepted());
        ServerSide.await(() -> !servers.serviceCloses.isEmpty(), "the server to see the client leave");
        CloseReason closed = servers.serviceCloses.get(0);
        assertEquals(CloseReason.Kind.REMOTE_CLOSE, closed.kind(), closed.toString());
        assertTrue(closed.detail().contains("HANDSHAKE_FAILED"), closed.toString());
        assertEquals(0, servers.serviceFrames.size(), "the client sent nothing on a connection it did not trust");

        // A server holding a different secret fails the client's proof first: the client's proof was wrong.
        Endpoint otherSecret = servers.listen("other", servers.echoServer().secret(SharedSecret.fromFile(wrongHex)));
        assertUnauthenticated(client, otherSecret, "proof is wrong");
    }

    /** Over TCP the kernel vouches for nobody: the secret is the check, unless the server opts out. */
    @Test
    void tcpNeedsTheSecretUnlessUnauthenticatedTcpIsAllowed() throws Exception {
        Endpoint anyPort = Endpoint.tcp("127.0.0.1", 0);
        IllegalStateException noSecret = assertThrows(IllegalStateException.class,
                () -> servers.listen(anyPort, servers.echoServer()));
        assertTrue(noSecret.getMessage().contains("allowUnauthenticatedTcp"), noSecret.getMessage());

        ClientProcess client = clientWithSecretFile(secretHex);
        Endpoint withSecret = servers.listen(anyPort, servers.echoServer().secret(SharedSecret.fromFile(secretRaw)));
        assertTrue(client.connect(withSecret).negotiated());
        assertEquals("OK", client.call());
        HandshakeOutcome heard = servers.nextOutcome();
        assertTrue(heard.accepted(), heard.toString());
        assertEquals(null, heard.credentials(), "no peer credentials over TCP");
        Outcome missing = client.connect(withSecret, "secret=none");
        assertEquals("REFUSED UNAUTHENTICATED", missing.kind() + " " + missing.code(), missing.line());
        assertEquals(RefusedCode.UNAUTHENTICATED, servers.nextOutcome().code());

        // A policy that needs credentials fails closed where there are none, even with the secret proven.
        Endpoint sameUser = servers.listen(anyPort, servers.echoServer().secret(SharedSecret.fromFile(secretRaw))
                .peerPolicy(PeerPolicy.sameUser()));
        Outcome denied = client.connect(sameUser);
        assertEquals("REFUSED PERMISSION_DENIED", denied.kind() + " " + denied.code(), denied.line());
        assertTrue(denied.message().contains("fail closed"), denied.line());
        servers.nextOutcome();

        Endpoint open = servers.listen(anyPort, servers.echoServer().allowUnauthenticatedTcp());
        assertTrue(client.connect(open, "secret=none").negotiated());
        assertEquals("OK", client.call());
        assertTrue(servers.nextOutcome().accepted());
    }

    /**
     * A fake server on a raw socket records what a real client process sends, answering its Hello with a
     * Challenge: neither Hello may hold the secret in any form, and the proof must not be the secret either.
     */
    @Test
    void theSecretIsNeverOnTheWire() throws Exception {
        Path socket = dir.resolve("fake.sock");
        ClientProcess client = clientWithSecretFile(secretHex);
        try (NativeSocket listener = NativeSocket.listen(Endpoint.unix(socket).socketAddress(), 1)) {
            client.jvm().send("CONNECT " + Endpoint.unix(socket) + " timeoutMs=2000");
            try (NativeSocket peer = listener.accept(10_000)) {
                ByteArrayOutputStream wire = new ByteArrayOutputStream();
                Hello first = Hello.parseFrom(readFrame(peer, FrameType.HELLO, wire));
                assertTrue(first.getSecretProof().isEmpty(), "no proof before the Challenge");
                byte[] challenge = HelloReply.newBuilder().setChallenge(Challenge.newBuilder()
                        .setServerNonce(ByteString.copyFrom(new byte[32]))).build().toByteArray();
                writeFrame(peer, FrameType.HELLO_REPLY, challenge);
                Hello second = Hello.parseFrom(readFrame(peer, FrameType.HELLO, wire));
                assertEquals(32, second.getSecretProof().size(), "an HMAC-SHA256 proof");
                assertEquals(first, second.toBuilder().clearSecretProof().build());
                assertNoSecretIn(wire.toString(StandardCharsets.ISO_8859_1), "the client's handshake bytes");
            }
            // The fake server never negotiates: the client gives up when its handshake timer fires.
            Outcome outcome = Outcome.parse(client.jvm().readLine(30));
            assertEquals("FAILED", outcome.kind(), outcome.line());
        } finally {
            Files.deleteIfExists(socket);
        }
    }

    /** Reads one frame of {@code type}, appending its bytes to {@code wire}; returns its payload. */
    private static byte[] readFrame(NativeSocket socket, byte type, ByteArrayOutputStream wire) throws Exception {
        ByteBuffer header = readFully(socket, FrameHeader.HEADER_LENGTH);
        FrameHeader view = new FrameHeader().wrap(new UnsafeBuffer(header), 0);
        assertEquals(type, view.type());
        ByteBuffer payload = readFully(socket, (int) view.frameLength() - FrameHeader.HEADER_LENGTH);
        byte[] bytes = new byte[payload.capacity()];
        payload.get(0, bytes);
        byte[] headerBytes = new byte[FrameHeader.HEADER_LENGTH];
        header.get(0, headerBytes);
        wire.write(headerBytes);
        wire.write(bytes);
        return bytes;
    }

    private static ByteBuffer readFully(NativeSocket socket, int length) throws Exception {
        ByteBuffer buffer = ByteBuffer.allocateDirect(length);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (buffer.hasRemaining()) {
            assertTrue(System.nanoTime() < deadline, "the client sent too little");
            int n = socket.read(buffer);
            assertTrue(n >= 0, "the client closed early");
            if (n == 0) {
                socket.fd().awaitReadable(1000);
            }
        }
        return buffer;
    }

    private static void writeFrame(NativeSocket socket, byte type, byte[] payload) throws Exception {
        ByteBuffer frame = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH + payload.length);
        UnsafeBuffer view = new UnsafeBuffer(frame);
        FrameHeader.write(view, 0, frame.capacity(), type, 0, 0, 0, 0, 0);
        view.putBytes(FrameHeader.HEADER_LENGTH, payload);
        while (frame.hasRemaining()) {
            if (socket.write(frame) == 0) {
                socket.fd().awaitWritable(1000);
            }
        }
    }

    /** Copies this process's stderr into a buffer the test searches, while still showing it. */
    private static final class TeeStream extends OutputStream {
        private final OutputStream first;
        private final OutputStream second;

        TeeStream(OutputStream first, OutputStream second) {
            this.first = first;
            this.second = second;
        }

        @Override
        public synchronized void write(int b) throws IOException {
            first.write(b);
            second.write(b);
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) throws IOException {
            first.write(b, off, len);
            second.write(b, off, len);
        }
    }
}
