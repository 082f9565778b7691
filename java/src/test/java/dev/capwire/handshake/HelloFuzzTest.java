package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.fuzz.Choices;
import dev.capwire.testing.RawFrames;
import dev.capwire.transport.Endpoint;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.HelloReply;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the server's checks of a Hello, what a client controls before it is anyone.
 *
 * <ul>
 *   <li>{@link #versionText}: the pure part, {@link Version} parsing and ordering and a service's version
 *       policy, on any text: parse fails only with IllegalArgumentException, a parsed version prints as given,
 *       the order is consistent with equals and hashCode, and the policy decides without throwing.
 *   <li>{@link #anyHello}: an in-process {@link HandshakeServer} sent a HELLO frame holding raw fuzzed bytes or a
 *       Hello built from fuzzed field values (maybe twice): it answers within a bound with a HelloReply (any
 *       outcome) and/or a GOAWAY, nothing else, and a well-formed client is served right after.
 * </ul>
 *
 * Jazzer targets (docs/fuzzing.md); {@link #randomizedVersionTexts} and {@link #randomizedHellos} run the same
 * harnesses over seeded random inputs on every build.
 */
class HelloFuzzTest {
    private static final Service POLICY = Service.builder("echo", "1.4.0", (c, f) -> { })
            .minimumClientVersion("1.2.0").build();
    private static ServerSide servers;
    private static Endpoint plain;
    private static Endpoint strict;

    @BeforeAll
    static void start() throws Exception {
        servers = new ServerSide();
        plain = servers.listen("plain", servers.echoServer().helloRateLimit(1_000_000).handshakeTimeoutMs(10_000));
        strict = servers.listen("strict", servers.server().helloRateLimit(1_000_000).handshakeTimeoutMs(10_000)
                .secret(SharedSecret.of(new byte[SharedSecret.LENGTH]))
                .service(servers.echo("echo", "1.4.0").minimumClientVersion("1.2.0").build())
                .service(servers.echo("other", "2.0.0-rc.1").allowClientVersions("1.0.0", "2.0.0").build()));
    }

    @AfterAll
    static void stop() throws Exception {
        servers.close();
    }

    @FuzzTest(maxDuration = "5m")
    void versionText(byte[] input) {
        checkVersions(new String(input, StandardCharsets.UTF_8), new String(input, StandardCharsets.ISO_8859_1));
    }

    @Test
    void randomizedVersionTexts() {
        Random random = new Random(0x7E_5107L);
        String alphabet = "0123456789..--++aZz \u00e9\u0660";
        for (int i = 0; i < 200_000; i++) {
            checkVersions(text(random, alphabet), text(random, alphabet));
        }
    }

    private static String text(Random random, String alphabet) {
        StringBuilder text = new StringBuilder();
        for (int n = random.nextInt(24); n > 0; n--) {
            text.append(alphabet.charAt(random.nextInt(alphabet.length())));
        }
        return text.toString();
    }

    private static void checkVersions(String a, String b) {
        Version x = Version.parseOrNull(a);
        Version y = Version.parseOrNull(b);
        try {
            assertEquals(x, Version.parse(a));
        } catch (IllegalArgumentException e) {
            assertEquals(null, x);
        }
        POLICY.versionRefusal(x); // decides, never throws
        if (x == null) {
            return;
        }
        assertEquals(a, x.toString());
        assertEquals(0, x.compareTo(x));
        assertTrue(x.satisfies(x));
        if (y != null) {
            assertEquals(Integer.signum(x.compareTo(y)), -Integer.signum(y.compareTo(x)), a + " vs " + b);
            assertEquals(x.compareTo(y) == 0, x.equals(y), a + " vs " + b);
            if (x.equals(y)) {
                assertEquals(x.hashCode(), y.hashCode(), a + " vs " + b);
            }
        }
    }

    @FuzzTest(maxDuration = "5m")
    void anyHello(byte[] input) throws Exception {
        exchange(Choices.of(input));
    }

    @Test
    void randomizedHellos() throws Exception {
        Random random = new Random(0x4E110L);
        for (int i = 0; i < 300; i++) {
            exchange(Choices.of(random, 0));
        }
    }

    private static final String[] TEXTS = {"", "echo", "other", "1.2.0", "1.4.0", "2.0.0", "1.0.0-rc.1+b", "x",
        "01.2.3", "1.2", "\u0000", "capwire-java", "é", "a".repeat(129), "9".repeat(9) + ".0.0"};

    private static String text(Choices choices) {
        return choices.nextInt(4) == 0 ? new String(choices.bytes(choices.nextInt(140)), StandardCharsets.UTF_8)
                : TEXTS[choices.nextInt(TEXTS.length)];
    }

    private static int number(Choices choices, int... usual) {
        return choices.nextInt(4) == 0 ? (int) choices.nextLong() : usual[choices.nextInt(usual.length)];
    }

    private static Hello hello(Choices choices) {
        return Hello.newBuilder()
                .setMinProtocolVersion(number(choices, 1, 0, 2))
                .setMaxProtocolVersion(number(choices, 1, 2, 0))
                .setServiceName(text(choices))
                .setWantedServiceVersion(text(choices))
                .setClientVersion(text(choices))
                .setLibraryName(text(choices))
                .setLibraryVersion(text(choices))
                .setClaimedPid(choices.nextBoolean() ? 0 : number(choices, (int) ProcessHandle.current().pid(), 1))
                .setCapabilities(choices.nextLong())
                .setKeepaliveIntervalMs(number(choices, 0, 1, 1000, Integer.MAX_VALUE))
                .setMaxFrameBytes(number(choices, 0, 256, 255, 65_536, 1 << 30))
                .setClientNonce(ByteString.copyFrom(choices.nextInt(4) == 0 ? choices.bytes(choices.nextInt(40))
                        : new byte[32]))
                .setSecretProof(ByteString.copyFrom(choices.nextInt(4) == 0 ? choices.bytes(32) : new byte[0]))
                .build();
    }

    /** One connection to one of the servers: fuzzed Hello(s) in, a bounded and well-formed answer out. */
    private static void exchange(Choices choices) throws Exception {
        Endpoint endpoint = choices.nextBoolean() ? plain : strict;
        byte[] first = choices.nextInt(4) == 0 ? choices.bytes(choices.nextInt(200)) : hello(choices).toByteArray();
        byte[] second = choices.nextInt(3) == 0 ? (choices.nextBoolean() ? choices.bytes(choices.nextInt(64))
                : hello(choices).toByteArray()) : null;
        try (NativeSocket raw = NativeSocket.connect(endpoint.socketAddress(), 5000)) {
            write(raw, first);
            boolean done = false;
            UnsafeBuffer in = new UnsafeBuffer(ByteBuffer.allocateDirect(128 * 1024));
            int have = 0;
            int replies = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            ByteBuffer view = in.byteBuffer().duplicate();
            while (!done) {
                assertTrue(System.nanoTime() < deadline, "no answer to the Hello within 5 s");
                view.clear().position(have);
                int n;
                try {
                    n = raw.read(view);
                } catch (dev.capwire.bindings.NativeIoException.PeerGoneException reset) {
                    n = -1;
                }
                if (n < 0) {
                    assertTrue(replies > 0, "closed without a word");
                    return;
                }
                if (n == 0) {
                    raw.fd().awaitReadable(100);
                    continue;
                }
                have += n;
                FrameHeader header = new FrameHeader();
                int at = 0;
                while (have - at >= FrameHeader.HEADER_LENGTH) {
                    header.wrap(in, at);
                    int length = (int) header.frameLength();
                    assertEquals(null, header.check(64 * 1024, false), "the server's frame header");
                    if (have - at < length) {
                        break;
                    }
                    byte[] payload = new byte[length - FrameHeader.HEADER_LENGTH];
                    in.getBytes(at + FrameHeader.HEADER_LENGTH, payload);
                    at += length;
                    replies++;
                    if (header.type() == FrameType.GOAWAY) {
                        GoAway.parseFrom(payload);
                        done = true;
                        break;
                    }
                    assertEquals(FrameType.HELLO_REPLY, header.type(), "the server answered a Hello with "
                            + FrameType.name(header.type()));
                    HelloReply reply = parse(payload);
                    assertFalse(reply.getOutcomeCase() == HelloReply.OutcomeCase.OUTCOME_NOT_SET, "an empty HelloReply");
                    if (reply.hasNegotiated()) {
                        done = true; // the connection is open for calls; we close it
                    } else if (reply.hasChallenge()) {
                        if (second == null) {
                            done = true;
                        } else {
                            write(raw, second);
                        }
                    }
                }
                in.putBytes(0, in, at, have - at);
                have -= at;
            }
        }
        // A well-formed client is served right after, whatever came before.
        try (NegotiatedConnection echo = HandshakeClient.connect(servers.transport, plain,
                ClientOptions.builder("echo").noSecret().build(), (c, f) -> { })) {
            assertEquals("1.4.0", echo.serverVersion());
        }
    }

    private static HelloReply parse(byte[] payload) throws InvalidProtocolBufferException {
        return HelloReply.parseFrom(payload);
    }

    private static void write(NativeSocket raw, byte[] payload) throws Exception {
        UnsafeBuffer frame = new UnsafeBuffer(ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH + payload.length));
        FrameHeader.write(frame, 0, frame.capacity(), FrameType.HELLO, 0, 0, 0, 0, 0);
        frame.putBytes(FrameHeader.HEADER_LENGTH, payload);
        try {
            RawFrames.writeFully(raw, frame.byteBuffer().duplicate().clear());
        } catch (dev.capwire.bindings.NativeIoException.PeerGoneException closed) {
            // The server already answered and closed: the reads see it.
        }
    }
}
