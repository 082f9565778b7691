package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.wire.proto.Refused;
import dev.capwire.wire.proto.RefusedCode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The handshake's small parts on their own: versions, the rate limiter's arithmetic, the secret's sources. */
class HandshakeUnitsTest {
    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

    @Test
    void versionsOrderByNumberAndPrereleasesComeFirst() {
        assertTrue(Version.parse("1.10.0").compareTo(Version.parse("1.9.9")) > 0);
        assertTrue(Version.parse("2.0.0-rc.1").compareTo(Version.parse("2.0.0")) < 0);
        assertEquals(Version.parse("1.2.3+build.7"), Version.parse("1.2.3"));
        assertTrue(Version.parse("1.4.0").satisfies(Version.parse("1.2.0")));
        assertFalse(Version.parse("1.4.0").satisfies(Version.parse("1.5.0")), "older than wanted");
        assertFalse(Version.parse("2.0.0").satisfies(Version.parse("1.2.0")), "another major");
        for (String bad : new String[] {"", "1", "1.2", "01.2.3", "1.2.3.4", "v1.2.3", "1.2.3-", "9999999999.0.0"}) {
            assertNull(Version.parseOrNull(bad), bad);
        }
    }

    /** A refusal's message says its status code once, and its Refused code too where that says more. */
    @Test
    void aRefusalsMessageSaysEachCodeOnce() {
        for (RefusedCode code : RefusedCode.values()) {
            if (code == RefusedCode.UNRECOGNIZED) {
                continue;
            }
            HandshakeRefusedException refused = new HandshakeRefusedException(Refused.newBuilder().setCode(code)
                    .setReason("because").build());
            String message = refused.getMessage();
            String status = refused.code().name();
            assertTrue(message.startsWith(status + ": handshake refused"), message);
            assertTrue(message.endsWith(": because"), message);
            for (String said : new String[] {status, code.name()}) {
                assertEquals(message.indexOf(said), message.lastIndexOf(said), "said once: " + message);
                assertTrue(message.contains(said), message);
            }
        }
    }

    /** The Hello carries these as uint32: a value it cannot carry is refused, not cut to its low 32 bits. */
    @Test
    void clientOptionsRefuseValuesAUint32CannotCarry() {
        for (long bad : new long[] {-1, 1L << 32, (1L << 32) + 1_000}) {
            assertThrows(IllegalArgumentException.class, () -> ClientOptions.builder("echo").keepaliveIntervalMs(bad));
            assertThrows(IllegalArgumentException.class, () -> ClientOptions.builder("echo").claimedPid(bad));
        }
        ClientOptions largest = ClientOptions.builder("echo").keepaliveIntervalMs(0xFFFF_FFFFL)
                .claimedPid(0xFFFF_FFFFL).build();
        assertEquals(0xFFFF_FFFFL, largest.keepaliveIntervalMs());
        assertEquals(0xFFFF_FFFFL, largest.claimedPid());
    }

    @Test
    void theRateLimiterAllowsABurstThenOneTokenAtItsRate() {
        HelloRateLimiter limiter = new HelloRateLimiter(4);
        long now = 1_000 * SECOND;
        for (int i = 0; i < 4; i++) {
            assertEquals(0, limiter.tryAcquire("a", now), "burst " + i);
        }
        assertEquals(250, limiter.tryAcquire("a", now), "the next token is a quarter second away");
        assertEquals(0, limiter.tryAcquire("b", now), "another peer has its own bucket");
        assertEquals(0, limiter.tryAcquire("a", now + SECOND / 4));
        assertTrue(limiter.tryAcquire("a", now + SECOND / 4) > 0);
        for (int i = 0; i < 4; i++) {
            assertEquals(0, limiter.tryAcquire("a", now + 10 * SECOND), "refilled, but only to the burst size");
        }
        assertTrue(limiter.tryAcquire("a", now + 10 * SECOND) > 0);
    }

    @Test
    void theRateLimiterForgetsRefilledPeersOnceItTracksMany() {
        HelloRateLimiter limiter = new HelloRateLimiter(1);
        for (int pid = 0; pid < 10_000; pid++) {
            limiter.tryAcquire(pid, pid * SECOND); // each peer's bucket is full again a second later
        }
        assertTrue(limiter.trackedPeers() <= 4097, "tracked " + limiter.trackedPeers());
    }

    @Test
    void aSecretComesFromRawOrHexFilesAndNeverShowsItself(@TempDir Path dir) throws Exception {
        byte[] raw = new byte[32];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = (byte) (0xA0 + i);
        }
        String hex = HexFormat.of().formatHex(raw);
        Path rawFile = Files.write(dir.resolve("raw"), raw);
        Path hexFile = Files.writeString(dir.resolve("hex"), hex + "\n");
        byte[] nonce = new byte[32];
        byte[] expected = SharedSecret.of(raw).clientProof(nonce, nonce);
        assertTrue(SharedSecret.sameProof(expected, SharedSecret.fromFile(rawFile).clientProof(nonce, nonce)));
        assertTrue(SharedSecret.sameProof(expected, SharedSecret.fromFile(hexFile).clientProof(nonce, nonce)));
        assertFalse(SharedSecret.sameProof(expected, SharedSecret.of(raw).serverProof(nonce, nonce)),
                "client and server proofs differ, so one cannot be replayed as the other");
        String shown = SharedSecret.fromFile(hexFile).toString();
        assertFalse(shown.contains(hex.substring(0, 8)), shown);

        Path shortFile = Files.writeString(dir.resolve("short"), hex.substring(0, 62) + "zz");
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> SharedSecret.fromFile(shortFile));
        assertFalse(bad.getMessage().contains(hex.substring(0, 8)), bad.getMessage());
        assertTrue(bad.getMessage().contains(shortFile.toString()), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> SharedSecret.of(new byte[31]));
        assertThrows(IllegalArgumentException.class,
                () -> SharedSecret.fromEnvironment("CAPWIRE_TEST_SURELY_UNSET_" + System.nanoTime()));
    }
}
