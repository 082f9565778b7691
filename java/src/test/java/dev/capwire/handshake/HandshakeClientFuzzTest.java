package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.ByteString;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.fuzz.Choices;
import dev.capwire.testing.Leaks;
import dev.capwire.testing.RawFrames;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.Challenge;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.HelloReply;
import dev.capwire.wire.proto.Negotiated;
import dev.capwire.wire.proto.Refused;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes {@link HandshakeClient#connect} with what a server controls: a fake server on a raw socket takes the
 * Hello and answers with fuzzed bytes (garbage, or frames holding HelloReplies built from fuzzed fields, a
 * Challenge and then a second answer), then closes or stays silent. Whatever it sends, connect must return a
 * negotiated connection or throw a {@link StatusException} (a {@link HandshakeRefusedException} included) within
 * its handshake timeout plus a margin, never anything else, and leave no fd open.
 *
 * <p>{@link #anyServerReply} is the Jazzer target (seeds under JUnit, fuzzing with {@code JAZZER_FUZZ=1},
 * docs/fuzzing.md); {@link #randomizedServerReplies} runs the same harness over seeded random inputs on every build.
 */
class HandshakeClientFuzzTest {
    static final int RANDOMIZED_INPUTS = 300;
    private static final long HANDSHAKE_TIMEOUT_MS = 200;
    private static final SharedSecret SECRET = SharedSecret.of(new byte[SharedSecret.LENGTH]);

    private static Transport transport;
    private static Path dir;
    private static Endpoint endpoint;
    private static NativeSocket listener;
    private static ExecutorService threads;

    @BeforeAll
    static void start() throws Exception {
        NoLeaks.warmUp();
        transport = Transport.create(TransportOptions.defaults());
        dir = Files.createTempDirectory(Path.of("/tmp"), "cwf");
        endpoint = Endpoint.unix(dir.resolve("fake"));
        listener = NativeSocket.listen(endpoint.socketAddress(), 8);
        threads = Executors.newFixedThreadPool(2);
        // One connect first, so whatever the JVM and the transport open once (and keep) is open before any check.
        new Harness(Choices.of(new byte[0])).run();
    }

    @AfterAll
    static void stop() throws Exception {
        threads.shutdownNow();
        listener.close();
        transport.close();
        Files.deleteIfExists(dir.resolve("fake"));
        Files.deleteIfExists(dir);
    }

    @FuzzTest(maxDuration = "5m")
    void anyServerReply(byte[] input) throws Exception {
        new Harness(Choices.of(input)).run();
    }

    @Test
    void randomizedServerReplies() throws Exception {
        long seed = Long.getLong("capwire.fuzz.seed", 0xC11E_17L);
        Random random = new Random(seed);
        int negotiated = 0;
        int refused = 0;
        for (int i = 0; i < RANDOMIZED_INPUTS; i++) {
            Harness harness = new Harness(Choices.of(random, 1 + random.nextInt(12)));
            try {
                harness.run();
            } catch (AssertionError | Exception e) {
                throw new AssertionError("input " + i + " of seed " + seed + " (-Dcapwire.fuzz.seed=" + seed + ")", e);
            }
            negotiated += harness.outcome instanceof NegotiatedConnection ? 1 : 0;
            refused += harness.outcome instanceof HandshakeRefusedException ? 1 : 0;
        }
        // The generator must reach both ends, or the run proves little.
        assertTrue(negotiated > RANDOMIZED_INPUTS / 50 && refused > RANDOMIZED_INPUTS / 20,
                negotiated + " negotiated, " + refused + " refused of " + RANDOMIZED_INPUTS);
    }

    /** One connect against one fuzzed server. */
    static final class Harness {
        private final Choices choices;
        private final boolean withSecret;
        Object outcome;

        Harness(Choices choices) {
            this.choices = choices;
            this.withSecret = choices.nextInt(4) == 0;
        }

        void run() throws Exception {
            ClientOptions.Builder options = ClientOptions.builder("echo").handshakeTimeoutMs(HANDSHAKE_TIMEOUT_MS);
            if (withSecret) {
                options.secret(SECRET);
            } else {
                options.noSecret();
            }
            ClientOptions built = options.build();
            Set<Integer> socketsBefore = sockets();
            byte[] first = reply();
            byte[] second = choices.nextInt(3) == 0 ? reply() : null;
            boolean holdOpen = choices.nextInt(4) == 0;
            Future<Void> server = threads.submit(() -> {
                serve(first, second, holdOpen);
                return null;
            });
            long started = System.nanoTime();
            Thread[] clientThread = new Thread[1];
            Future<Object> client = threads.submit(() -> {
                clientThread[0] = Thread.currentThread();
                try {
                    return HandshakeClient.connect(transport, endpoint, built, (connection, frame) -> { });
                } catch (StatusException e) {
                    return e; // a documented failure
                }
            });
            try {
                outcome = client.get(HANDSHAKE_TIMEOUT_MS + 5_000, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                AssertionError hang = new AssertionError("connect neither returned nor failed within "
                        + (HANDSHAKE_TIMEOUT_MS + 5_000) + " ms; server sent " + describe(first) + " then "
                        + describe(second) + (holdOpen ? ", held open" : ", closed"));
                hang.setStackTrace(clientThread[0].getStackTrace());
                client.cancel(true);
                throw hang;
            } catch (ExecutionException e) {
                throw new AssertionError("connect failed with an undocumented exception", e.getCause());
            }
            assertTrue(System.nanoTime() - started < TimeUnit.MILLISECONDS.toNanos(HANDSHAKE_TIMEOUT_MS + 5_000));
            if (outcome instanceof NegotiatedConnection) {
                ((NegotiatedConnection) outcome).close(); // before the server is awaited: it reads to our close
            }
            server.get(30, TimeUnit.SECONDS);
            assertNull(socketsLeftOver(socketsBefore), "sockets left open");
        }

        /**
         * The open fds that are sockets: Jazzer opens files of its own while it runs, so a leak here is counted in
         * sockets, which only the connect and the fake server make.
         */
        private static Set<Integer> sockets() throws Exception {
            Set<Integer> sockets = new TreeSet<>();
            Leaks.openFds().forEach((fd, target) -> {
                if (target.startsWith("socket:")) {
                    sockets.add(fd);
                }
            });
            return sockets;
        }

        /** Waits up to 10 s (a negotiated connection closes on its loop) for no more sockets than before. */
        private static String socketsLeftOver(Set<Integer> before) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            Set<Integer> now = sockets();
            while (now.size() > before.size() && System.nanoTime() < deadline) {
                Thread.sleep(5);
                now = sockets();
            }
            if (now.size() <= before.size()) {
                return null;
            }
            now.removeAll(before);
            return now.toString();
        }

        private static String describe(byte[] bytes) {
            return bytes == null ? "nothing" : java.util.HexFormat.of().formatHex(bytes);
        }

        /** Accepts the client, reads its Hello, sends {@code first}; after a second Hello, {@code second}. */
        private static void serve(byte[] first, byte[] second, boolean holdOpen) throws Exception {
            try (NativeSocket peer = listener.accept(10_000)) {
                if (!readFrame(peer)) {
                    return;
                }
                writeQuietly(peer, first);
                if (second != null && readFrame(peer)) {
                    writeQuietly(peer, second);
                }
                if (holdOpen) {
                    // Silent until the client gives up: it must time out, not hang.
                    readFrame(peer);
                    RawFrames.readToEnd(peer);
                }
            }
        }

        /** Reads one frame (header and payload); false at the end of the stream, or after 10 s. */
        private static boolean readFrame(NativeSocket peer) throws Exception {
            ByteBuffer header = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH);
            if (!readFully(peer, header)) {
                return false;
            }
            int length = (int) new FrameHeader().wrap(new UnsafeBuffer(header), 0).frameLength();
            return readFully(peer, ByteBuffer.allocateDirect(Math.max(0, length - FrameHeader.HEADER_LENGTH)));
        }

        private static boolean readFully(NativeSocket peer, ByteBuffer buffer) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (buffer.hasRemaining()) {
                int n;
                try {
                    n = peer.read(buffer);
                } catch (dev.capwire.bindings.NativeIoException e) {
                    return false;
                }
                if (n < 0 || System.nanoTime() > deadline) {
                    return false;
                }
                if (n == 0) {
                    peer.fd().awaitReadable(100);
                }
            }
            return true;
        }

        private static void writeQuietly(NativeSocket peer, byte[] bytes) {
            try {
                RawFrames.writeFully(peer, ByteBuffer.allocateDirect(Math.max(1, bytes.length)).put(bytes).flip());
            } catch (Exception gone) {
                // The client gave up and closed first: fine.
            }
        }

        /** What the fake server answers a Hello with. */
        private byte[] reply() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            switch (choices.nextInt(8)) {
                case 0 -> out.writeBytes(choices.bytes(choices.nextInt(80)));
                case 1 -> out.writeBytes(frame(FrameType.GOAWAY, GoAway.newBuilder().setMessage("bye").build()
                        .toByteArray(), choices.nextInt(4) == 0 ? FrameHeader.FLAG_MORE_FRAGMENTS : 0));
                case 2 -> {
                    // A header from fuzzed fields: any type, flags, fds and length, and some payload.
                    byte[] payload = choices.bytes(choices.nextInt(64));
                    byte[] frame = frame((byte) choices.nextInt(256), payload, choices.nextInt(4));
                    UnsafeBuffer view = new UnsafeBuffer(frame);
                    if (choices.nextBoolean()) {
                        view.putInt(FrameHeader.LENGTH_OFFSET, choices.nextBoolean() ? choices.nextInt(200)
                                : (int) choices.nextLong(), FrameHeader.ORDER);
                    }
                    view.putShort(FrameHeader.FD_COUNT_OFFSET, (short) (choices.nextInt(4) == 0 ? 1 : 0),
                            FrameHeader.ORDER);
                    out.writeBytes(frame);
                }
                default -> out.writeBytes(frame(FrameType.HELLO_REPLY, helloReply().toByteArray(), 0));
            }
            if (choices.nextInt(4) == 0) {
                out.writeBytes(choices.bytes(choices.nextInt(64))); // whatever follows the reply
            }
            return out.toByteArray();
        }

        private HelloReply helloReply() {
            HelloReply.Builder reply = HelloReply.newBuilder();
            switch (choices.nextInt(5)) {
                case 0, 1 -> reply.setNegotiated(Negotiated.newBuilder()
                        // Mostly the version the client offered, so that replies get past that check to the rest.
                        .setProtocolVersion(choices.nextInt(4) == 0 ? choices.nextInt(3) : 1)
                        .setServerVersion(choices.nextBoolean() ? "1.4.0" : new String(choices.bytes(8),
                                java.nio.charset.StandardCharsets.ISO_8859_1))
                        .setCapabilities(choices.nextLong())
                        .setKeepaliveIntervalMs(pick(0, 0, 10_000, 1, 50, Integer.MAX_VALUE, -1))
                        .setMaxFrameBytes(pick(256, 65_536, 1 << 20, 0, 255, -1, Integer.MAX_VALUE, 4096))
                        .setConnectionId(choices.nextLong())
                        .addWarnings("w")
                        .setServerProof(ByteString.copyFrom(choices.bytes(choices.nextBoolean() ? 32 : 3))));
                case 2 -> reply.setRefused(Refused.newBuilder()
                        .setCodeValue(choices.nextInt(12))
                        .setReason("no")
                        .setRetryAfterMs(pick(0, 100, -1))
                        .putDetails("field", "x"));
                case 3 -> reply.setChallenge(Challenge.newBuilder().setServerNonce(ByteString.copyFrom(
                        choices.bytes(choices.nextBoolean() ? 32 : choices.nextInt(100)))));
                default -> { } // no outcome at all
            }
            return reply.build();
        }

        private int pick(int... values) {
            return values[choices.nextInt(values.length)];
        }

        private static byte[] frame(byte type, byte[] payload, int flags) {
            UnsafeBuffer frame = new UnsafeBuffer(new byte[FrameHeader.HEADER_LENGTH + payload.length]);
            FrameHeader.write(frame, 0, frame.capacity(), type, flags, 0, 0, 0, 0);
            frame.putBytes(FrameHeader.HEADER_LENGTH, payload);
            return frame.byteArray();
        }
    }
}
