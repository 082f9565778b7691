package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.Configuration;
import dev.capwire.handshake.ClientProcess.Outcome;
import dev.capwire.testing.ChildJvm;
import dev.capwire.transport.Endpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * One local process must not lock everyone out of a server by opening connections and saying nothing
 * (issue 11, item 6): {@code capwire.server.maxHandshakingPerPeer} closes a peer's connection at once, at the
 * accept, when that peer already has its share waiting for a handshake, while other peers still get in.
 *
 * <p>How the peers are told apart here. The limit is per kernel-verified uid on Unix sockets and per remote IP
 * address on TCP. This machine gives the tests one uid only, so two Unix-socket peers cannot be two peers.
 * Linux answers on every address of 127/8, though, and the JDK's sockets can bind a local address before they
 * connect, so the attacker ({@link SilentPeerMain}, its own JVM) connects from 127.0.0.2 (and .3, .4) while the
 * well-behaved client ({@link HandshakeClientMain}, another JVM) connects from 127.0.0.1: two processes the
 * server sees as different peers, exactly as it would see two hosts. What the TCP tests cannot show, the uid
 * keying, the Unix-socket test shows within its limits: the same uid's extra connections are refused with a
 * reason naming the uid (every process of one user is one peer there, the well-behaved one included), a Hello
 * from that uid gets in again once one of its silent connections is gone, and a TCP peer is not counted with
 * it.
 *
 * <p>Every server here has a handshake timeout of a minute, so a close seen within the test is the limit's
 * doing, never the timeout's; each refused attempt's reported duration shows it came at once. Against the code
 * before the per-peer limit, the silent connections fill {@code maxHandshaking} and the well-behaved client is
 * closed at once.
 */
@ExtendWith(NoLeaks.class)
class HandshakeLimitsAcrossProcessesTest {
    private static final long TIMEOUT_MS = 60_000;
    private static ChildJvm attacker;
    private static ClientProcess bystander;
    private ServerSide servers;

    @BeforeAll
    static void startProcesses() throws Exception {
        attacker = ChildJvm.start(SilentPeerMain.class);
        attacker.expect("READY", 30);
        bystander = ClientProcess.start();
    }

    @AfterAll
    static void stopProcesses() throws Exception {
        try {
            bystander.exit();
        } finally {
            attacker.send("EXIT");
            attacker.expect("BYE", 30);
            assertEquals(0, attacker.finish(30), "exit status of the silent peer");
        }
    }

    @BeforeEach
    void startServers() throws Exception {
        servers = new ServerSide();
    }

    @AfterEach
    void stopServers() throws Exception {
        try {
            bystander.closeAll();
            attacker.send("DROP 1000");
            attacker.expect("DROPPED", 30);
        } finally {
            servers.close();
        }
    }

    private HandshakeServer.Builder server(int maxHandshaking, int perPeer) {
        return servers.echoServer().allowUnauthenticatedTcp().handshakeTimeoutMs(TIMEOUT_MS)
                .maxHandshaking(maxHandshaking).maxHandshakingPerPeer(perPeer);
    }

    private Endpoint listenTcp(HandshakeServer.Builder builder) throws Exception {
        return servers.listen(Endpoint.tcp("127.0.0.1", 0), builder);
    }

    @Test
    void aPeerAtItsLimitIsClosedAtOnceWhileAnotherPeerGetsIn() throws Exception {
        Endpoint endpoint = listenTcp(server(8, 3));
        // More silent connections than the whole server's bound, from one peer.
        silent(12, endpoint, "127.0.0.2");
        List<HandshakeOutcome> refused = awaitOutcomes(9);
        String perPeer = "closed at once: peer 127.0.0.2 already has 3 handshakes in progress ("
                + Configuration.MAX_HANDSHAKING_PER_PEER_PROP_NAME + ")";
        assertClosedAtOnce(refused, perPeer);
        assertEquals("9", serverClosed(9), "the attacker saw exactly its nine extra connections closed");

        // Another peer, another process: it gets in at once, and is served.
        long started = System.nanoTime();
        Outcome outcome = bystander.connect(endpoint, "secret=none");
        assertTrue(outcome.negotiated(), "a different peer is not locked out: " + outcome.line());
        assertTrue(System.nanoTime() - started < TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS / 2), "not by a timeout");
        assertEquals("OK", bystander.call());
        assertTrue(servers.nextOutcome().accepted());

        // The attacker's own Hello waits behind its silent connections: closed, saying why...
        assertEquals("CLOSED", hello(endpoint, "127.0.0.2"));
        assertClosedAtOnce(awaitOutcomes(1), perPeer);
        // ...until one of them is gone; then the same peer gets in like anyone.
        attacker.send("DROP 1");
        assertEquals("1", attacker.expect("DROPPED", 30));
        HandshakeOutcome dropped = servers.nextOutcome();
        assertTrue(dropped.reason().startsWith("closed before the handshake completed"), dropped.toString());
        assertEquals("NEGOTIATED", hello(endpoint, "127.0.0.2"));
        assertTrue(servers.nextOutcome().accepted());
    }

    /**
     * The per-peer limit does not replace the server's bound: {@code maxHandshaking} still caps the total, and
     * enough peers at their limit fill it (then everyone waits, the well-behaved too). Only a per-peer limit
     * below the server's bound keeps a single peer from filling it.
     */
    @Test
    void theServersBoundStillCapsManyPeersTogether() throws Exception {
        Endpoint endpoint = listenTcp(server(8, 3));
        silent(3, endpoint, "127.0.0.2");
        ServerSide.await(() -> servers.lastServer().connectionCount() == 3, "three connections from .2");
        silent(3, endpoint, "127.0.0.3");
        ServerSide.await(() -> servers.lastServer().connectionCount() == 6, "three more from .3");
        silent(3, endpoint, "127.0.0.4");
        assertClosedAtOnce(awaitOutcomes(1), "closed at once: 8 handshakes already in progress ("
                + Configuration.MAX_HANDSHAKING_PROP_NAME + ")");
        assertEquals("1", serverClosed(1));

        Outcome outcome = bystander.connect(endpoint, "secret=none");
        assertEquals("FAILED", outcome.kind(), "a full server closes everyone's new connection: " + outcome.line());
        assertClosedAtOnce(awaitOutcomes(1), "8 handshakes already in progress");
    }

    /**
     * On Unix sockets the peer is the uid, and every process here has the same one: the attacker's extra
     * connections are refused naming the uid, and so is the well-behaved process's Unix connection while the
     * uid is at its limit. A TCP peer is keyed by its address, not counted with the uid, and gets in. Once one
     * silent connection is gone, a Hello from the uid is served again.
     */
    @Test
    void onUnixSocketsThePeerIsTheUidAndATcpPeerIsNotCountedWithIt() throws Exception {
        Endpoint unix = servers.listen("limits", server(4, 3));
        Endpoint tcp = servers.lastServer().listen(Endpoint.tcp("127.0.0.1", 0)).endpoint();
        long uid = ((Number) Files.getAttribute(Path.of("/proc/" + attacker.pid()), "unix:uid")).longValue();
        String perUid = "closed at once: peer uid " + uid + " already has 3 handshakes in progress ("
                + Configuration.MAX_HANDSHAKING_PER_PEER_PROP_NAME + ")";
        silent(5, unix, null);
        assertClosedAtOnce(awaitOutcomes(2), perUid);
        assertEquals("2", serverClosed(2));
        for (HandshakeOutcome o : servers.outcomes) {
            assertEquals(attacker.pid(), o.credentials().pid().getAsLong(), "refused with its kernel-verified pid");
        }

        Outcome sameUid = bystander.connect(unix, "secret=none");
        assertEquals("FAILED", sameUid.kind(), "the same uid is the same peer: " + sameUid.line());
        assertClosedAtOnce(awaitOutcomes(1), perUid);

        Outcome overTcp = bystander.connect(tcp, "secret=none");
        assertTrue(overTcp.negotiated(), "a TCP peer is not counted with the uid: " + overTcp.line());
        assertEquals("OK", bystander.call());
        assertTrue(servers.nextOutcome().accepted());

        attacker.send("DROP 1");
        assertEquals("1", attacker.expect("DROPPED", 30));
        assertTrue(servers.nextOutcome().reason().startsWith("closed before the handshake completed"));
        assertEquals("NEGOTIATED", hello(unix, null));
        assertTrue(servers.nextOutcome().accepted());
    }

    private static void silent(int count, Endpoint endpoint, String from) throws Exception {
        attacker.send("SILENT " + count + " " + endpoint + (from == null ? "" : " " + from));
        assertEquals(String.valueOf(count), attacker.expect("OPENED", 30));
    }

    private static String serverClosed(int expected) throws Exception {
        attacker.send("SERVER-CLOSED " + expected);
        return attacker.expect("SERVER-CLOSED", 30);
    }

    private static String hello(Endpoint endpoint, String from) throws Exception {
        attacker.send("HELLO " + endpoint + (from == null ? "" : " " + from));
        return attacker.readLine(30);
    }

    /** The next {@code count} outcomes, and no more within 200 ms. */
    private List<HandshakeOutcome> awaitOutcomes(int count) throws Exception {
        List<HandshakeOutcome> next = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            next.add(servers.nextOutcome());
        }
        Thread.sleep(200);
        assertEquals(servers.outcomes.size(), servers.outcomes.lastIndexOf(next.get(count - 1)) + 1,
                "no more than " + count + " new outcomes: " + servers.outcomes);
        return next;
    }

    /** Each outcome is a FAILED close with {@code reason} in it, long before the handshake timeout. */
    private static void assertClosedAtOnce(List<HandshakeOutcome> outcomes, String reason) {
        for (HandshakeOutcome o : outcomes) {
            assertEquals(HandshakeOutcome.Result.FAILED, o.result(), o.toString());
            assertTrue(o.reason().contains(reason), "expected '" + reason + "' in " + o);
            assertTrue(o.durationNanos() < TimeUnit.SECONDS.toNanos(1), "at once, not at the timeout: " + o);
        }
    }
}
