package dev.capwire.rpc;

import static dev.capwire.rpc.RpcTestClient.waitFor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.rpc.OtherCaps.One;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A call's cap arguments are decoded on the handler thread, which may start after the loop has handled the
 * exporter's REVOKE of one of them (the REQUEST came first, the REVOKE right behind it). The proxy decoded then
 * must be as revoked as every other proxy of that cap: calls on it fail here, with the exporter's reason, and
 * never reach the exporter; and the references the call brought are given back with the rest, so no import is
 * left behind. The client's handler executor holds the call until the test has seen the REVOKE arrive.
 */
class RevokedBeforeDecodedTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpcrevdec");

    @Capability(name = "lender", version = "1.0.0")
    interface Lender {
        /** Lends the served "one" to {@code borrower} and returns what it answers. */
        @Method(1)
        byte[] lendTo(Borrower borrower);
    }

    @Capability(name = "borrower", version = "1.0.0")
    interface Borrower {
        @Method(1)
        byte[] borrow(One one);
    }

    private final BlockingQueue<Runnable> heldHandlers = new LinkedBlockingQueue<>();
    private InProcessRpc peers;

    @BeforeEach
    void start() throws Exception {
        peers = new InProcessRpc(DIR, options -> options, options -> options.executor(heldHandlers::add));
    }

    @AfterEach
    void stop() throws Exception {
        peers.close();
    }

    @Test
    void aCapRevokedBeforeItsCallIsDecodedIsRevokedInTheProxyTheHandlerGets() throws Exception {
        byte[] lent = {1};
        One served = () -> lent;
        ServeHandle one = peers.server.serve(One.class, served, IfExists.THROW);
        peers.server.serve(Lender.class, borrower -> {
            try {
                return borrower.borrow(served); // the export the client bootstrapped: the one revoked below
            } finally {
                ((RemoteCapability) borrower).close();
            }
        }, IfExists.THROW);
        RpcConnection client = peers.peer();
        One bootstrapped = client.bootstrap(One.class);
        Lender lender = client.bootstrap(Lender.class);

        AtomicReference<String> revocationSeen = new AtomicReference<>();
        AtomicReference<StatusException> callFailure = new AtomicReference<>();
        Borrower borrower = borrowed -> {
            revocationSeen.set(((RemoteCapability) borrowed).revocation());
            try {
                return borrowed.get();
            } catch (StatusException e) {
                callFailure.set(e);
                return new byte[0];
            } finally {
                ((RemoteCapability) borrowed).close();
            }
        };
        CompletableFuture<byte[]> lending = CompletableFuture.supplyAsync(() -> lender.lendTo(borrower),
                peers.handlers);
        Runnable borrowing = heldHandlers.poll(10, TimeUnit.SECONDS);
        assertNotNull(borrowing, "the borrow call reached the client's handler executor");

        one.close();
        waitFor(() -> ((RemoteCapability) bootstrapped).revocation() != null, "the REVOKE to reach the client");
        long failedBefore = client.runtime().diagnostics().getCallsFailed();
        borrowing.run();
        assertArrayEquals(new byte[0], lending.get(10, TimeUnit.SECONDS));

        assertEquals("revoked: unserve", revocationSeen.get(), "the proxy decoded after the REVOKE");
        assertNotNull(callFailure.get(), "a call on a revoked cap fails");
        assertEquals(StatusCode.UNAVAILABLE, callFailure.get().code());
        assertEquals("revoked: unserve", callFailure.get().reason());
        assertEquals(failedBefore, client.runtime().diagnostics().getCallsFailed(),
                "the call failed here, without reaching the exporter");

        ((RemoteCapability) bootstrapped).close();
        ((RemoteCapability) lender).close();
        waitFor(() -> peers.client.importCount() == 0 && peers.server.exportCount() == 0
                && peers.server.importCount() == 0 && peers.client.exportCount() == 0,
                "every export and import to be freed");
        assertTrue(heldHandlers.isEmpty());
    }
}
