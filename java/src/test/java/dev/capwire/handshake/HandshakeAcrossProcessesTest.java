package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.Configuration;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.handshake.ClientProcess.Outcome;
import dev.capwire.transport.Endpoint;
import dev.capwire.wire.proto.RefusedCode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Every handshake rule with the client in another process: each Refused code as a real client receives it,
 * the server's view of the same attempt (its listener's outcome, with the kernel-verified pid and uid of
 * the child), the claimed-pid check, protocol and service version negotiation, and the connection limits.
 * One client process serves the whole class; each test gets fresh servers.
 */
@ExtendWith(NoLeaks.class)
class HandshakeAcrossProcessesTest {
    private static ClientProcess client;
    private static long clientUid;
    private ServerSide servers;

    @BeforeAll
    static void startClient() throws Exception {
        client = ClientProcess.start();
        clientUid = ((Number) Files.getAttribute(Path.of("/proc/" + client.pid()), "unix:uid")).longValue();
    }

    @AfterAll
    static void stopClient() throws Exception {
        client.exit();
    }

    @BeforeEach
    void startServers() throws Exception {
        servers = new ServerSide();
    }

    @AfterEach
    void stopServers() throws Exception {
        try {
            client.closeAll();
        } finally {
            servers.close();
        }
    }

    /** Connects, expects {@code code}, and checks the server's listener heard the same refusal from the child. */
    private Outcome expectRefused(Endpoint endpoint, RefusedCode code, String... options) throws Exception {
        Outcome outcome = client.connect(endpoint, options);
        assertEquals("REFUSED " + code, outcome.kind() + " " + outcome.code(), outcome.line());
        HandshakeOutcome heard = servers.nextOutcome();
        assertEquals(HandshakeOutcome.Result.REFUSED, heard.result(), heard.toString());
        assertEquals(code, heard.code(), heard.toString());
        String said = ": " + heard.reason()
                + (outcome.number("retryAfterMs") > 0 ? " (retry after " + outcome.number("retryAfterMs") + " ms)" : "");
        assertTrue(outcome.message().endsWith(said), "the client got the reason the server reported: " + said
                + " vs " + outcome.line());
        String head = outcome.message().substring(0, outcome.message().length() - said.length());
        String status = HandshakeRefusedException.statusOf(code).name();
        assertTrue(head.startsWith(status + ": handshake refused"), outcome.line());
        assertEquals(head.indexOf(code.name()), head.lastIndexOf(code.name()), "the code is said once: " + head);
        assertTrue(head.contains(code.name()), "the Refused code is said: " + head);
        assertIsTheClient(heard.credentials());
        return outcome;
    }

    /** Connects, expects a negotiated connection whose calls work, and checks the server's side of it. */
    private Outcome expectNegotiated(Endpoint endpoint, String... options) throws Exception {
        Outcome outcome = client.connect(endpoint, options);
        assertTrue(outcome.negotiated(), outcome.line());
        HandshakeOutcome heard = servers.nextOutcome();
        assertEquals(HandshakeOutcome.Result.ACCEPTED, heard.result(), heard.toString());
        assertIsTheClient(heard.credentials());
        assertEquals("OK", client.call());
        return outcome;
    }

    private static void assertIsTheClient(PeerCredentials credentials) {
        assertEquals(client.pid(), credentials.pid().getAsLong(), "the kernel-verified pid is the child's");
        assertEquals(clientUid, credentials.uid().getAsLong(), "the kernel-verified uid is the child's");
    }

    @Test
    void aGoodHelloIsNegotiatedWithTheChildsRealCredentials() throws Exception {
        Endpoint endpoint = servers.listen("good", servers.echoServer().capabilities(0b1100));
        Outcome outcome = expectNegotiated(endpoint, "clientVersion=2.0.0", "wanted=1.0.0", "capabilities=6");
        assertEquals("1.4.0", outcome.field("server"));
        assertEquals(4, outcome.number("capabilities"), "the server's bits ANDed with the client's");
        assertTrue(servers.serviceFrames.size() >= 1, "the call reached the service");
        expectNegotiated(endpoint, "pid=0"); // a client that claims no pid is not refused for it
    }

    @Test
    void aClaimedPidThatIsNotTheCallersIsPeerRejected() throws Exception {
        Endpoint endpoint = servers.listen("pid", servers.echoServer());
        for (long other : new long[] {1, ProcessHandle.current().pid(), client.pid() + 1}) {
            Outcome outcome = expectRefused(endpoint, RefusedCode.PEER_REJECTED, "pid=" + other);
            assertEquals("claimed_pid", outcome.field("detail.field"), outcome.line());
            assertTrue(outcome.message().contains("kernel says " + client.pid()), outcome.line());
        }
        expectNegotiated(endpoint, "pid=" + client.pid());
    }

    @Test
    void malformedFieldsArePeerRejectedNamingTheField() throws Exception {
        Endpoint endpoint = servers.listen("shapes", servers.echoServer());
        Map<String, String[]> cases = new LinkedHashMap<>();
        cases.put("service_name", new String[] {"service=bad/name", "service=9lives", "service=e" + "x".repeat(128)});
        cases.put("wanted_service_version", new String[] {"wanted=1.2", "wanted=v1.2.0", "wanted=01.2.0"});
        cases.put("client_version", new String[] {"clientVersion=1.x.0",
            "clientVersion=1.0.0-" + "a".repeat(123)}); // well-formed, but 129 bytes
        cases.put("library_name", new String[] {"libName=" + "l".repeat(65)});
        cases.put("library_version", new String[] {"libVersion=" + "v".repeat(65)});
        for (Map.Entry<String, String[]> field : cases.entrySet()) {
            for (String option : field.getValue()) {
                Outcome outcome = expectRefused(endpoint, RefusedCode.PEER_REJECTED, option);
                assertEquals(field.getKey(), outcome.field("detail.field"), option + ": " + outcome.line());
                assertTrue(outcome.message().contains(field.getKey()), "the reason names the field: " + outcome.line());
                assertEquals(0, outcome.number("retryAfterMs"), "retrying the same Hello cannot help");
            }
        }
        // The limits themselves are allowed.
        expectNegotiated(endpoint, "clientVersion=1.0.0-" + "a".repeat(122), "libName=" + "l".repeat(64),
                "libVersion=" + "v".repeat(64), "service=echo");
    }

    @Test
    void aPeerOverItsHelloRateIsRateLimitedWithAnHonestRetryHint() throws Exception {
        Endpoint endpoint = servers.listen("rate", servers.echoServer().helloRateLimit(2));
        client.startFlood(12, endpoint);
        Map<String, String> counts = client.floodResult(60);
        int negotiated = Integer.parseInt(counts.getOrDefault("NEGOTIATED", "0"));
        int limited = Integer.parseInt(counts.getOrDefault("RATE_LIMITED", "0"));
        assertEquals(12, negotiated + limited, "every attempt was negotiated or rate limited: " + counts);
        assertTrue(negotiated >= 2, "the first burst passes: " + counts);
        assertTrue(limited >= 1, "12 Hellos at 2 per second: " + counts);
        long retryAfter = Long.parseLong(counts.get("maxRetryAfterMs"));
        assertTrue(Long.parseLong(counts.get("minRetryAfterMs")) > 0 && retryAfter <= 1000, counts.toString());
        for (int i = 0; i < 12; i++) {
            HandshakeOutcome heard = servers.nextOutcome();
            assertIsTheClient(heard.credentials());
        }
        // Waiting as long as the hint says is enough for the next Hello to pass.
        Thread.sleep(retryAfter + 50);
        expectNegotiated(endpoint);
    }

    /**
     * A real client sends uint32 values from 2^31 up (negative as Java ints): the server reads each as the
     * unsigned number it is, in its checks, its clamps and the numbers its reasons show.
     */
    @Test
    void helloFieldsFromTwoToThe31UpAreReadUnsigned() throws Exception {
        Endpoint endpoint = servers.listen("uint32", servers.echoServer().keepaliveIntervalMs(10_000)
                .keepaliveMinIntervalMs(100));
        assertEquals(1, expectNegotiated(endpoint, "min=1", "max=4294967295").number("protocol"),
                "[1, 2^32-1] holds the server's 1");
        Outcome above = expectRefused(endpoint, RefusedCode.VERSION_UNSUPPORTED, "min=2147483648", "max=4294967295");
        assertTrue(above.message().contains("[2147483648, 4294967295]"), above.line());

        for (String wanted : new String[] {"2147483648", "4294967295"}) {
            Outcome outcome = expectNegotiated(endpoint, "keepaliveMs=" + wanted);
            assertEquals(10_000, outcome.number("keepaliveMs"), "clamped down to the maximum: " + outcome.line());
            assertTrue(outcome.field("warnings").contains(wanted + " ms clamped to 10000 ms"), outcome.line());
        }

        Outcome pid = expectRefused(endpoint, RefusedCode.PEER_REJECTED, "pid=4294967295");
        assertTrue(pid.message().contains("claimed pid 4294967295 is not"), pid.line());
    }

    @Test
    void unknownServicesAndIncompatibleServiceVersionsAreServiceUnknown() throws Exception {
        Endpoint endpoint = servers.listen("services", servers.echoServer()
                .service(servers.echo("other", "3.0.1").build()));
        Outcome unknown = expectRefused(endpoint, RefusedCode.SERVICE_UNKNOWN, "service=nosuch");
        assertEquals("echo,other", unknown.field("detail.services"));
        for (String wanted : new String[] {"2.0.0", "1.5.0", "0.9.0"}) {
            Outcome outcome = expectRefused(endpoint, RefusedCode.SERVICE_UNKNOWN, "wanted=" + wanted);
            assertEquals("1.4.0", outcome.field("detail.served_version"), outcome.line());
        }
        for (String wanted : new String[] {"1.2.0", "1.4.0", "1.0.0", ""}) {
            assertEquals("1.4.0", expectNegotiated(endpoint, "wanted=" + wanted).field("server"));
        }
        assertEquals("3.0.1", expectNegotiated(endpoint, "service=other", "wanted=3.0.0").field("server"));
    }

    @Test
    void theVersionPolicyBlocksClientsBelowTheMinimumOrOffTheAllowList() throws Exception {
        Endpoint minimum = servers.listen("minimum", servers.server()
                .service(servers.echo("echo", "1.4.0").minimumClientVersion("2.0.0").build()));
        for (String old : new String[] {"1.9.9", "2.0.0-rc.1", "0.0.1"}) {
            Outcome outcome = expectRefused(minimum, RefusedCode.VERSION_BLOCKED, "clientVersion=" + old);
            assertEquals("2.0.0", outcome.field("detail.minimum_client_version"), outcome.line());
            assertTrue(outcome.field("detail.hint").contains("upgrade"), outcome.line());
        }
        expectNegotiated(minimum, "clientVersion=2.0.0");
        expectNegotiated(minimum, "clientVersion=10.0.0");

        Endpoint allowList = servers.listen("allow", servers.server()
                .service(servers.echo("echo", "1.4.0").allowClientVersions("2.1.0", "2.2.0").build()));
        for (String unlisted : new String[] {"2.3.0", "2.1.1", "2.0.0"}) {
            Outcome outcome = expectRefused(allowList, RefusedCode.VERSION_BLOCKED, "clientVersion=" + unlisted);
            assertTrue(outcome.message().contains("allow list"), outcome.line());
        }
        expectNegotiated(allowList, "clientVersion=2.1.0");
        expectNegotiated(allowList, "clientVersion=2.2.0");
    }

    /** A version policy cannot be met by saying nothing: it fails closed. */
    @Test
    void aClientThatDoesNotSayItsVersionIsBlockedWhereAVersionPolicyApplies() throws Exception {
        Endpoint minimum = servers.listen("minimum", servers.server()
                .service(servers.echo("echo", "1.4.0").minimumClientVersion("2.0.0").build()));
        Outcome outcome = expectRefused(minimum, RefusedCode.VERSION_BLOCKED);
        assertEquals("2.0.0", outcome.field("detail.minimum_client_version"), outcome.line());
        Endpoint allowList = servers.listen("allow", servers.server()
                .service(servers.echo("echo", "1.4.0").allowClientVersions("2.1.0").build()));
        expectRefused(allowList, RefusedCode.VERSION_BLOCKED);
        Endpoint noPolicy = servers.listen("nopolicy", servers.echoServer());
        expectNegotiated(noPolicy);
    }

    @Test
    void thePeerPolicyRefusesWithPermissionDenied() throws Exception {
        Endpoint otherUid = servers.listen("uid", servers.echoServer()
                .peerPolicy(PeerPolicy.uidAllowList(clientUid + 1, clientUid + 2)));
        Outcome outcome = expectRefused(otherUid, RefusedCode.PERMISSION_DENIED);
        assertTrue(outcome.message().contains("uid " + clientUid + " is not allowed"), outcome.line());

        Endpoint sameUid = servers.listen("sameuid", servers.echoServer().peerPolicy(PeerPolicy.uidAllowList(clientUid)));
        expectNegotiated(sameUid);

        // A predicate sees the kernel's credentials: it can tell this child from every other process.
        long child = client.pid();
        Endpoint onlyChild = servers.listen("pred", servers.echoServer().peerPolicy(PeerPolicy.matching(
                "only pid " + child + " with client 1.x", (credentials, hello) -> credentials.pid().getAsLong() == child
                        && hello.getClientVersion().startsWith("1."))));
        expectNegotiated(onlyChild, "clientVersion=1.2.3");
        Outcome refused = expectRefused(onlyChild, RefusedCode.PERMISSION_DENIED, "clientVersion=2.0.0");
        assertTrue(refused.message().contains("refused by policy: only pid " + child), refused.line());

        Endpoint notChild = servers.listen("notchild", servers.echoServer().peerPolicy(PeerPolicy.matching(
                "not pid " + child, (credentials, hello) -> credentials.pid().getAsLong() != child)));
        expectRefused(notChild, RefusedCode.PERMISSION_DENIED);
    }

    @Test
    void aPolicyThatThrowsIsRefusedInternalAndTheServerCarriesOn() throws Exception {
        Endpoint endpoint = servers.listen("throws", servers.echoServer().peerPolicy(PeerPolicy.matching(
                "a policy with a bug", (credentials, hello) -> {
                    if (hello.getClientVersion().equals("6.6.6")) {
                        throw new IllegalStateException("policy bug");
                    }
                    return true;
                })));
        Outcome outcome = expectRefused(endpoint, RefusedCode.INTERNAL, "clientVersion=6.6.6");
        assertTrue(outcome.message().contains("IllegalStateException"), outcome.line());
        expectNegotiated(endpoint, "clientVersion=1.0.0");
    }

    @Test
    void connectionsBeyondTheServerAndPerUidLimitsAreResourceExhausted() throws Exception {
        Endpoint serverWide = servers.listen("max", servers.echoServer().maxConnections(2));
        assertLimit(serverWide, Configuration.MAX_CONNECTIONS_PROP_NAME);
        Endpoint perUid = servers.listen("peruid", servers.echoServer().maxConnectionsPerUid(2));
        assertLimit(perUid, Configuration.MAX_CONNECTIONS_PER_UID_PROP_NAME);
    }

    /** Two connections fit, the third is refused naming the limit, and after closing there is room again. */
    private void assertLimit(Endpoint endpoint, String limit) throws Exception {
        HandshakeServer server = servers.lastServer();
        expectNegotiated(endpoint);
        expectNegotiated(endpoint);
        Outcome full = expectRefused(endpoint, RefusedCode.RESOURCE_EXHAUSTED);
        assertEquals(limit, full.field("detail.limit"), full.line());
        assertTrue(full.number("retryAfterMs") > 0, full.line());
        assertEquals(2, client.closeAll());
        ServerSide.await(() -> server.connectionCount() == 0, "the server to see both connections close");
        expectNegotiated(endpoint);
        assertEquals(1, client.closeAll());
    }

    @Test
    void theHighestProtocolVersionBothRangesHoldIsChosen() throws Exception {
        Endpoint oneTwo = servers.listen("p12", servers.echoServer().protocolRange(1, 2));
        Endpoint twoFour = servers.listen("p24", servers.echoServer().protocolRange(2, 4));
        // client range -> chosen version against [1,2] and against [2,4]; 0 means VERSION_UNSUPPORTED
        int[][] matrix = {
            {1, 1, 1, 0},
            {1, 3, 2, 3},
            {2, 3, 2, 3},
            {4, 5, 0, 4},
            {2, 2, 2, 2},
            {3, 9, 0, 4},
        };
        for (int[] row : matrix) {
            String[] range = {"min=" + row[0], "max=" + row[1]};
            assertChosen(oneTwo, 1, 2, row[2], range);
            assertChosen(twoFour, 2, 4, row[3], range);
        }
        // Ranges that are not ranges at all.
        assertChosen(oneTwo, 1, 2, 0, "min=0", "max=1");
        assertChosen(oneTwo, 1, 2, 0, "min=2", "max=1");
    }

    private void assertChosen(Endpoint endpoint, int serverMin, int serverMax, int expected, String... range)
            throws Exception {
        String what = String.join(",", range) + " against [" + serverMin + "," + serverMax + "]";
        if (expected == 0) {
            Outcome outcome = expectRefused(endpoint, RefusedCode.VERSION_UNSUPPORTED, range);
            assertEquals(serverMin, outcome.number("serverMin"), what);
            assertEquals(serverMax, outcome.number("serverMax"), what);
        } else {
            // Calls work at any negotiated number: frame headers stay at wire version 1.
            assertEquals(expected, expectNegotiated(endpoint, range).number("protocol"), what);
        }
    }

    @Test
    void refusedClientsLeaveNoConnectionsOnTheServer() throws Exception {
        Endpoint endpoint = servers.listen("count", servers.echoServer());
        expectRefused(endpoint, RefusedCode.SERVICE_UNKNOWN, "service=nosuch");
        expectRefused(endpoint, RefusedCode.VERSION_UNSUPPORTED, "min=7", "max=8");
        HandshakeServer server = servers.lastServer();
        ServerSide.await(() -> server.connectionCount() == 0, "the refused connections to close");
        assertEquals(0, servers.serviceFrames.size(), "nothing reached the service");
    }
}
