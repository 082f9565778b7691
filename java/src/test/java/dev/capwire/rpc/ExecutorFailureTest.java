package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.capwire.rpc.OtherCaps.One;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import dev.capwire.rpc.proto.Diagnostics;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A handler executor that fails otherwise than by rejecting the call (a user's executor that throws) must not
 * strand the call: it was in the table of running calls, holding one of the caller's {@code maxInFlight} slots at
 * the receiver, and held the references its caps brought. The call is answered, its entry goes, its caps go back,
 * and the failure reaches the error handler.
 */
class ExecutorFailureTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpcexecfail");

    @Capability(name = "taker", version = "1.0.0")
    interface Taker {
        @Method(1)
        byte[] take(One one);
    }

    private final List<Throwable> reported = new CopyOnWriteArrayList<>();
    private InProcessRpc peers;

    @BeforeEach
    void start() throws Exception {
        peers = new InProcessRpc(DIR, options -> options.executor(call -> {
            throw new IllegalStateException("this executor is broken");
        }).errorHandler(reported::add));
    }

    @AfterEach
    void stop() throws Exception {
        peers.close();
    }

    @Test
    void aCallTheExecutorFailedToRunIsAnsweredAndLeavesNothingBehind() throws Exception {
        peers.server.serve(Taker.class, One::get, IfExists.THROW);
        RpcConnection client = peers.peer();
        Taker taker = client.bootstrap(Taker.class);
        Diagnostics before = client.runtime().diagnostics(); // its own call counts among the answers

        StatusException failed = assertThrows(StatusException.class, () -> taker.take(() -> new byte[] {1}));
        assertNotEquals(StatusCode.OK, failed.code());
        Diagnostics after = client.runtime().diagnostics(); // sent after the call's end, and any RELEASE it caused

        assertEquals(before.getAnswers(), after.getAnswers(), "the call is not left running");
        assertEquals(0, after.getImports(), "the cap's reference was given back");
        assertEquals(0, peers.client.exportCount(), "the cap's reference was given back");
        assertEquals(1, reported.size(), "the executor's failure was reported: " + reported);
    }
}
