package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.rpc.OtherCaps.One;
import dev.capwire.rpc.OtherCaps.Secret;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.StatusCode;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A setting made on the transport ({@link TransportOptions}) holds for the RPC calls over its connections too, not
 * only for its raw requests: the RPC layer used to read these from the system properties, so a transport built
 * with {@code exposeHandlerErrors(false)} still described its RPC handlers' exceptions to the peer, and one with a
 * short {@code requestTimeoutMs} still gave calls the property's 30 s. Both cases failed before.
 */
class TransportSettingsReachRpcTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpcopts");

    private static final String DETAIL = "the password is hunter2";

    @Test
    void aTransportThatHidesHandlerErrorsHidesThemForRpcHandlersToo() throws Exception {
        assertTrue(Boolean.parseBoolean(System.getProperty("capwire.exposeHandlerErrors", "true")),
                "this test needs the property's default (true), so that only the transport's setting hides");
        StatusException hidden = failureOfThrowingHandler(TransportOptions.builder().exposeHandlerErrors(false).build());
        assertEquals(StatusCode.INTERNAL, hidden.code());
        assertEquals("handler.failed", hidden.reason());
        assertFalse(String.valueOf(hidden.getMessage()).contains(DETAIL), hidden::toString);

        StatusException described = failureOfThrowingHandler(TransportOptions.defaults());
        assertTrue(String.valueOf(described.getMessage()).contains(DETAIL), described::toString);
    }

    private static StatusException failureOfThrowingHandler(TransportOptions options) throws Exception {
        try (InProcessRpc peers = new InProcessRpc(DIR, options, server -> server, client -> client);
                ServeHandle served = peers.server.serve(Secret.class, () -> {
                    throw new IllegalStateException(DETAIL);
                }, IfExists.THROW)) {
            Secret secret = peers.peer().bootstrap(Secret.class);
            return assertThrows(StatusException.class, secret::get);
        }
    }

    @Test
    void aCallWithoutADeadlineGetsTheTransportsRequestTimeout() throws Exception {
        CompletableFuture<Duration> timeLeft = new CompletableFuture<>();
        TransportOptions options = TransportOptions.builder().requestTimeoutMs(5_000).build();
        try (InProcessRpc peers = new InProcessRpc(DIR, options, server -> server, client -> client);
                ServeHandle served = peers.server.serve(One.class, () -> {
                    timeLeft.complete(CallContext.current().timeLeft());
                    return new byte[] {1};
                }, IfExists.THROW)) {
            peers.peer().bootstrap(One.class).get();
            Duration left = timeLeft.get(10, TimeUnit.SECONDS);
            // The handler sees the caller's deadline: at most the transport's 5 s, far from the property's 30 s.
            assertTrue(left.compareTo(Duration.ofSeconds(5)) <= 0 && !left.isNegative(), left::toString);
        }
    }
}
