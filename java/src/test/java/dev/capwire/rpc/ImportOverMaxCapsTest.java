package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.capwire.rpc.OtherCaps.Maker;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A cap that would make the importer hold more than its {@code capwire.rpc.maxCaps} of the peer's caps is refused
 * there, and the reference its descriptor brought must still go back: the exporter counted it, and would otherwise
 * keep the cap exported, and counted against its own maxCaps, for as long as the connection lasts. The importer
 * sends that RELEASE before the refused call returns, so a ping after it finds the exporter's count settled.
 */
class ImportOverMaxCapsTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpcovermax");

    private InProcessRpc peers;

    @BeforeEach
    void start() throws Exception {
        peers = new InProcessRpc(DIR, options -> options, options -> options.maxCaps(1));
    }

    @AfterEach
    void stop() throws Exception {
        peers.close();
    }

    @Test
    void aCapRefusedForTheImportersMaxCapsIsReleased() throws Exception {
        peers.server.serve(Maker.class, () -> () -> new byte[] {1}, IfExists.THROW);
        RpcConnection client = peers.peer();
        Maker maker = client.bootstrap(Maker.class); // the one cap the client may hold

        StatusException refused = assertThrows(StatusException.class, maker::make);
        assertEquals(StatusCode.RESOURCE_EXHAUSTED, refused.code());
        assertEquals("capwire.rpc.maxCaps", refused.reason());
        client.runtime().ping();

        assertEquals(1, peers.server.exportCount(), "the maker only: the refused cap was given back");
        assertEquals(1, peers.client.importCount());
    }
}
