package dev.capwire.rpc;

import dev.capwire.transport.Response;
import dev.capwire.transport.StatusException;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;

/**
 * A call this side made and awaits (the questions table of docs/rpc-protocol.md): the caller's future of the
 * decoded result, and the transport's future of the raw answer behind it. Failing or cancelling the
 * question cancels the transport's request, which sends CANCEL, so the peer's handler hears of it.
 */
final class Question extends CompletableFuture<Object> implements BiConsumer<Response, Throwable> {
    private final Caller caller;
    final ImportTable.Import target;
    final Caller.Decoder decoder;
    volatile CompletableFuture<Response> answer;

    Question(Caller caller, ImportTable.Import target, Caller.Decoder decoder) {
        this.caller = caller;
        this.target = target;
        this.decoder = decoder;
    }

    /** The transport's request completed (loop work): decode the answer, or take the failure. */
    @Override
    public void accept(Response response, Throwable failure) {
        caller.answered(this, response, failure);
    }

    /** Fails the caller's future and lets the peer know nobody waits any more. */
    void fail(StatusException why) {
        completeExceptionally(why);
        CompletableFuture<Response> pending = answer;
        if (pending != null) {
            pending.cancel(false);
        }
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
        boolean cancelled = super.cancel(mayInterruptIfRunning);
        CompletableFuture<Response> pending = answer;
        if (cancelled && pending != null) {
            pending.cancel(false);
        }
        return cancelled;
    }
}
