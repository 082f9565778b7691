package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.testing.SocketDir;
import dev.capwire.wire.StatusCode;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A handler in the future form whose call the caller cancels: the call's cancel hook cancels the handler's future,
 * and that cancellation is the call's own ending, not a failure of the handler's. It used to be reported as one
 * (a warning with a stack trace in the server's log for every cancelled call, and a {@code .Error} event); now
 * the call ends with its cancellation's status and nothing is reported. Failed before: one error per cancelled call.
 */
class CancelledFutureHandlerTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpccancelfut");

    @Capability(name = "parked", version = "1.0.0")
    interface Parked {
        @Method(1)
        CompletableFuture<byte[]> park();
    }

    @Test
    void aCallCancelledByItsCallerIsNotReportedAsAHandlerFailure() throws Exception {
        List<Throwable> reported = new CopyOnWriteArrayList<>();
        List<StatusCode> ended = new CopyOnWriteArrayList<>();
        CountDownLatch parked = new CountDownLatch(1);
        CountDownLatch answered = new CountDownLatch(1);
        RpcObserver observer = new RpcObserver() {
            @Override
            public void served(long connectionId, String capName, String methodName, StatusCode status, long nanos) {
                if (capName.equals("parked")) {
                    ended.add(status);
                    answered.countDown();
                }
            }
        };
        try (InProcessRpc peers = new InProcessRpc(DIR, server -> server.errorHandler(reported::add).observer(observer))) {
            peers.server.serve(Parked.class, () -> {
                parked.countDown();
                return new CompletableFuture<>(); // completed by nobody: only the call's cancellation ends it
            }, IfExists.THROW);
            Parked cap = peers.peer().bootstrap(Parked.class);
            CompletableFuture<byte[]> call = cap.park();
            assertTrue(parked.await(10, TimeUnit.SECONDS), "the handler ran");
            call.cancel(true);
            assertTrue(answered.await(10, TimeUnit.SECONDS), "the server ended the call");
            assertEquals(List.of(StatusCode.CANCELLED), ended);
            assertEquals(List.of(), reported, "nothing reported as the handler's failure");
        }
    }
}
