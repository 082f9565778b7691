package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.testing.SocketDir;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The RPC state of a connection is made by the listener's onOpen or by the first {@link Rpc#connection}, and only
 * the listener's onClose let go of it. A connection whose close the RPC layer heard before any state was made (its
 * first sight of the connection was the close, here through a layer in front of it that had not handed the
 * connection on yet) left a state made later by {@link Rpc#connection} among the live ones for good: one leaked
 * per such connection. Deterministic: failed every run before the fix.
 */
class StateAfterCloseTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpcstate");

    private InProcessRpc peers;

    @BeforeEach
    void start() throws Exception {
        peers = new InProcessRpc(DIR);
    }

    @AfterEach
    void stop() throws Exception {
        peers.close();
    }

    @Test
    void aStateAskedForAfterTheRpcLayerHeardTheCloseIsNotKept() throws Exception {
        FrameListener rpc = peers.client.listener();
        FrameListener gateNotYetOpened = new FrameListener() {
            @Override
            public void onFrame(Connection connection, InboundFrame frame) {
                rpc.onFrame(connection, frame);
            }

            @Override
            public void onClose(Connection connection, CloseReason reason) {
                rpc.onClose(connection, reason);
            }
        };
        int before = peers.client.connectionCount();
        Connection gated = peers.transport.connect(peers.listening.endpoint(), gateNotYetOpened);
        gated.close();
        gated.closeFuture().get(10, TimeUnit.SECONDS);

        RpcConnection late = peers.client.connection(gated);

        assertEquals(before, peers.client.connectionCount(), "no state is kept for a closed connection");
        assertTrue(late.isClosed(), "the state of a closed connection says so");
    }
}
