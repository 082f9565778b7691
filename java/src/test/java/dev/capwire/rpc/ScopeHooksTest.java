package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.testing.SocketDir;
import dev.capwire.transport.Connection;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A call made inside a {@link CallContext} hooks itself onto the context's cancellation; a context that lives long
 * (a deadline scope around a batch, a stream's handler) must not keep every call it ever made, and each call's
 * result with it (or, in the callback form, its sink), nor every {@link CallContext#withTimeout} scope opened inside it.
 * Deterministic: before the fixes
 * the first result was still reachable after 1,000 more calls, or 1,000 more nested scopes, in the same scope (3 of
 * 3 runs each); after them, it is collected (3 of 3). Pruning must not go too far: a nested scope with a call still
 * running is cancelled with its parent (that case fails when a scope is dropped as soon as its body returns).
 */
class ScopeHooksTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpchooks");

    @Capability(name = "echo", version = "1.0.0")
    interface Echo {
        @Method(value = 1, nonBlocking = true)
        byte[] echo(byte[] bytes);
    }

    /** The echo as a caller declares it in the callback form. */
    @Capability(name = "echo", version = "1.0.0")
    interface EchoSink {
        @Method(value = 1, nonBlocking = true)
        void echo(byte[] bytes, ResultSink<byte[]> result);
    }

    /** Holds until its call is cancelled (or 30 s pass). */
    @Capability(name = "slow", version = "1.0.0")
    interface Slow {
        @Method(1)
        byte[] hold(byte[] bytes);
    }

    /** The same cap as the caller declares it, in the future form. */
    @Capability(name = "slow", version = "1.0.0")
    interface AsyncSlow {
        @Method(1)
        CompletableFuture<byte[]> hold(byte[] bytes);
    }

    private InProcessRpc peers;
    private Rpc client;
    private Connection connection;

    @BeforeEach
    void start() throws Exception {
        peers = new InProcessRpc(DIR);
        Rpc server = peers.server;
        client = peers.client;
        connection = peers.connection;
        server.serve(Echo.class, bytes -> bytes, IfExists.THROW);
        server.serve(Slow.class, bytes -> {
            CountDownLatch cancelled = new CountDownLatch(1);
            CallContext.current().onCancel(cancelled::countDown);
            try {
                cancelled.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return bytes;
        }, IfExists.THROW);
    }

    @AfterEach
    void stop() throws Exception {
        peers.close();
    }

    @Test
    void aLongScopeKeepsNoCallItMadeOnceTheCallEnded() throws Exception {
        Echo echo = client.connection(connection).bootstrap(Echo.class);
        WeakReference<byte[]> first = CallContext.withTimeout(Duration.ofMinutes(1), () -> {
            WeakReference<byte[]> kept = callAndForget(echo);
            for (int i = 0; i < 1_000; i++) {
                assertArrayEquals(new byte[] {(byte) i}, echo.echo(new byte[] {(byte) i}));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (kept.get() != null && System.nanoTime() < deadline) {
                System.gc();
                Thread.sleep(10);
            }
            return kept;
        });
        assertTrue(first.get() == null, "the scope, still open, held the first call's result");
    }

    /**
     * The same with a scope per unit of work inside the long one (a stream's handler giving each item its own
     * deadline): once a nested scope's body returned and its calls ended, the long scope keeps neither it nor them.
     * Before the fix the first nested scope's result was still reachable (the parent's hook held the scope, the
     * scope its calls' hooks); after it, collected.
     */
    @Test
    void aLongScopeKeepsNoNestedScopeOnceItsBodyReturned() throws Exception {
        Echo echo = client.connection(connection).bootstrap(Echo.class);
        WeakReference<byte[]> first = CallContext.withTimeout(Duration.ofMinutes(1), () -> {
            WeakReference<byte[]> kept = CallContext.withTimeout(Duration.ofSeconds(30), () -> callAndForget(echo));
            for (int i = 0; i < 1_000; i++) {
                byte[] item = {(byte) i};
                assertArrayEquals(item, CallContext.withTimeout(Duration.ofSeconds(30), () -> echo.echo(item)));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (kept.get() != null && System.nanoTime() < deadline) {
                System.gc();
                Thread.sleep(10);
            }
            return kept;
        });
        assertTrue(first.get() == null, "the long scope, still open, held a nested scope's call result");
    }

    /**
     * A nested scope whose body returned while a call it started still runs stays hooked on its parent: cancelling
     * the parent still cancels that call.
     */
    @Test
    void aNestedScopesCallStillRunningIsCancelledWithTheParent() throws Exception {
        Echo echo = client.connection(connection).bootstrap(Echo.class);
        AsyncSlow slow = client.connection(connection).bootstrap(AsyncSlow.class);
        AtomicReference<CallContext> outer = new AtomicReference<>();
        CompletableFuture<byte[]> running = CallContext.withTimeout(Duration.ofMinutes(1), () -> {
            outer.set(CallContext.current());
            CompletableFuture<byte[]> started = CallContext.withTimeout(Duration.ofSeconds(30),
                    () -> slow.hold(new byte[] {1}));
            for (int i = 0; i < 100; i++) { // enough hooks on the outer scope to prune it more than once
                byte[] item = {(byte) i};
                CallContext.withTimeout(Duration.ofSeconds(30), () -> echo.echo(item));
            }
            return started;
        });
        outer.get().cancel(new StatusException(StatusCode.CANCELLED, "test", "the outer scope", null));
        ExecutionException why = assertThrows(
                ExecutionException.class, () -> running.get(10, TimeUnit.SECONDS));
        assertTrue(why.getCause() instanceof StatusException
                && ((StatusException) why.getCause()).code() == StatusCode.CANCELLED, why.toString());
    }

    /**
     * The same for the callback form: its hook reaches the call's sink, which a caller may make per call. Before the
     * fix the first call's sink was still reachable after 1,000 more calls in the scope (it failed the first run);
     * after it, collected.
     */
    @Test
    void aLongScopeKeepsNoCallbackCallOnceItsAnswerCame() throws Exception {
        EchoSink echo = client.connection(connection).bootstrap(EchoSink.class);
        WeakReference<ResultSink<byte[]>> first = CallContext.withTimeout(Duration.ofMinutes(1), () -> {
            WeakReference<ResultSink<byte[]>> kept = new WeakReference<>(callBack(echo, new byte[1]));
            for (int i = 0; i < 1_000; i++) {
                callBack(echo, new byte[] {(byte) i});
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (kept.get() != null && System.nanoTime() < deadline) {
                System.gc();
                Thread.sleep(10);
            }
            return kept;
        });
        assertTrue(first.get() == null, "the scope, still open, held the first callback call's sink");
    }

    /** One call in the callback form, through a sink of its own, waited for; returns the sink. */
    private static ResultSink<byte[]> callBack(EchoSink echo, byte[] bytes) throws Exception {
        CompletableFuture<byte[]> answered = new CompletableFuture<>();
        ResultSink<byte[]> sink = new ResultSink<>() {
            @Override
            public void result(byte[] value) {
                answered.complete(value);
            }

            @Override
            public void failed(StatusException why) {
                answered.completeExceptionally(why);
            }
        };
        echo.echo(bytes, sink);
        assertArrayEquals(bytes, answered.get(10, TimeUnit.SECONDS));
        return sink;
    }

    /** A call whose result nothing of the test's holds once this returns. */
    private static WeakReference<byte[]> callAndForget(Echo echo) {
        return new WeakReference<>(echo.echo(new byte[1 << 16]));
    }
}
