package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.capwire.rpc.OtherCaps.One;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A bootstrap finds the served cap, checks it, then exports it; an unserve or a replace in between revokes the
 * exports it finds on each connection, and could sweep this one before the bootstrap's export was made. That
 * export was then live for good: the peer called a cap no longer served. The cap's own policy, which runs in that
 * gap on the loop, unserves or replaces it here, so the interleaving is forced every run. Both cases failed
 * before (the bootstrap succeeded, and its proxy reached the withdrawn implementation).
 */
class BootstrapRacingUnserveTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpcbootrace");

    @Test
    void aCapUnservedWhileItsBootstrapIsCheckedIsNotExported() throws Exception {
        try (InProcessRpc peers = new InProcessRpc(DIR)) {
            peers.server.serve(One.class, () -> new byte[] {1}, IfExists.THROW, peer -> {
                peers.server.unserve("one");
                return null; // admitted, but no longer served
            });
            StatusException refused = assertThrows(StatusException.class, () -> peers.peer().bootstrap(One.class));
            assertEquals(StatusCode.NOT_FOUND, refused.code(), refused::toString);
            assertEquals(0, peers.server.exportCount(), "nothing exported for the cap unserved");
        }
    }

    @Test
    void aCapReplacedWhileItsBootstrapIsCheckedGivesTheReplacement() throws Exception {
        try (InProcessRpc peers = new InProcessRpc(DIR)) {
            AtomicBoolean replaced = new AtomicBoolean();
            peers.server.serve(One.class, () -> new byte[] {1}, IfExists.THROW, peer -> {
                if (replaced.compareAndSet(false, true)) {
                    peers.server.serve(One.class, () -> new byte[] {2}, IfExists.REPLACE);
                }
                return null;
            });
            One one = peers.peer().bootstrap(One.class);
            assertArrayEquals(new byte[] {2}, one.get(), "the replacement answers, not the cap it replaced");
        }
    }
}
