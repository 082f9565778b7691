package dev.capwire.rpc;

import static dev.capwire.rpc.RpcTestClient.waitFor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.capwire.Configuration;
import dev.capwire.rpc.testing.OpenRequest;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * How long a cap lives, against a child JVM ({@link RpcServerMain}): an export is counted per reference the peer
 * holds and freed at the last release, a proxy nobody closed is released once it is garbage, and a close frees
 * every export and import on both sides, including the caps the server holds of the client's; and past the
 * exporter's {@code capwire.rpc.maxCaps} a cap is refused until one is released.
 */
class RpcCapLifetimeAcrossProcessesTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwlife");

    @Test
    void anExportIsCountedPerReferenceAndFreedAtTheLastRelease() throws Exception {
        try (ServerAndClient peers = new ServerAndClient(DIR)) {
            RemoteFiles first = peers.peer.bootstrap(RemoteFiles.class);
            RemoteFiles second = peers.peer.bootstrap(RemoteFiles.class); // the same served object: one export
            assertEquals(1, peers.peer.importCount());
            peers.awaitCount("exports", "EXPORTS", 1);
            ((RemoteCapability) first).close();
            assertArrayEquals(new byte[] {1}, second.echo(new byte[] {1}), "the other reference still works");
            peers.awaitCount("exports", "EXPORTS", 1);
            ((RemoteCapability) second).close();
            peers.awaitCount("exports", "EXPORTS", 0);
            waitFor(() -> peers.peer.importCount() == 0, "the import to go");
        }
    }

    @Test
    void aProxyNobodyClosedIsReleasedOnceItIsGarbage() throws Exception {
        try (ServerAndClient peers = new ServerAndClient(DIR)) {
            bootstrapAndDrop(peers.peer);
            peers.awaitCount("exports", "EXPORTS", 1);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            String exports;
            do {
                System.gc();
                Thread.sleep(20);
                exports = peers.ask("exports", "EXPORTS");
            } while (!exports.equals("0") && System.nanoTime() < deadline);
            assertEquals("0", exports, "the server's export, released by the proxy's Cleaner");
            assertEquals(0, peers.peer.importCount());
        }
    }

    /** In a method of its own, so that no local variable keeps the proxy reachable. */
    private static void bootstrapAndDrop(RpcConnection peer) {
        assertArrayEquals(new byte[] {2}, peer.bootstrap(RemoteFiles.class).echo(new byte[] {2}));
    }

    @Test
    void aCloseFreesEveryExportAndImportOnBothSides() throws Exception {
        try (ServerAndClient peers = new ServerAndClient(DIR)) {
            RemoteFiles files = peers.peer.bootstrap(RemoteFiles.class);
            Bouncer mine = depth -> new byte[] {depth[0]};
            Bouncer theirs = files.bouncer(mine); // the server keeps a proxy of mine inside theirs
            assertArrayEquals(new byte[] {1, 0}, theirs.bounce(new byte[] {1}), "theirs calls mine back");
            assertEquals(1, peers.peer.exportCount());
            assertEquals(2, peers.peer.importCount());
            peers.awaitCount("exports", "EXPORTS", 2);
            peers.awaitCount("imports", "IMPORTS", 1);
            peers.connection.close();
            waitFor(peers.peer::isClosed, "the close");
            assertEquals(0, peers.peer.exportCount());
            assertEquals(0, peers.peer.importCount());
            peers.awaitCount("exports", "EXPORTS", 0);
            peers.awaitCount("imports", "IMPORTS", 0);
        }
    }

    /** The server may export 3 caps to this connection: files and two readers; a third reader waits for room. */
    @Test
    void theExportersCapLimitAnswersResourceExhaustedUntilACapIsReleased() throws Exception {
        try (ServerAndClient peers = new ServerAndClient(DIR, "-D" + Configuration.RPC_MAX_CAPS_PROP_NAME + "=3")) {
            RemoteFiles files = peers.peer.bootstrap(RemoteFiles.class);
            Reader first = files.open(OpenRequest.getDefaultInstance());
            Reader second = files.open(OpenRequest.getDefaultInstance());
            StatusException full = assertThrows(StatusException.class, () -> files.open(
                    OpenRequest.getDefaultInstance()));
            assertEquals(StatusCode.RESOURCE_EXHAUSTED, full.code());
            assertEquals(Configuration.RPC_MAX_CAPS_PROP_NAME, full.reason());
            first.close();
            peers.awaitCount("exports", "EXPORTS", 2);
            try (Reader third = files.open(OpenRequest.getDefaultInstance())) {
                assertEquals(3, peers.peer.importCount(), "room again once a cap was released");
            }
            second.close();
        }
    }
}
