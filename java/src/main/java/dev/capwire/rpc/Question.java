package dev.capwire.rpc;

import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.ReplyHandler;
import dev.capwire.transport.StatusException;
import java.util.concurrent.CompletableFuture;

/**
 * A call this side made and awaits (the questions table of docs/rpc-protocol.md): the caller's future of the
 * decoded result, and the handler of the transport request behind it, so a call costs no second future.
 * Failing or cancelling the question cancels the transport's request, which sends CANCEL, so the peer's
 * handler hears of it.
 */
final class Question extends CompletableFuture<Object> implements ReplyHandler {
    /** The caller, the cap and the decoder: shared by every call of one proxy method, so each question is 32 B, not 40. */
    final Caller.Binding binding;
    /**
     * The transport request's correlation id; 0 until it is sent (its answer may even come first). A plain field:
     * the caller's thread writes it before the question is handed to anyone (the user, a context's cancel hook),
     * which then reads it on the same thread or after a hand-off. The one reader that can run meanwhile is a
     * REVOKE's sweep ({@link Caller#failCallsOn}); should it fail the question and still read 0 (a volatile write
     * here, a fence per call, was a visible share of the call's cost), the caller's own check of the revocation
     * right after {@link #sent} fails it again with the id known, and otherwise the peer, which revoked the cap,
     * answers the request itself: the request ends either way and only its CANCEL is saved.
     */
    private long requestId;

    Question(Caller.Binding binding) {
        this.binding = binding;
    }

    /** The request is on its way; a question failed or cancelled while it was being sent cancels it now. */
    void sent(long correlationId) {
        requestId = correlationId;
        if (isDone()) {
            cancelRequest();
        }
    }

    /** Loop work: the answer arrived, as a view valid during this call; decoded here. */
    @Override
    public void onReply(long correlationId, InboundFrame reply) {
        binding.caller.answered(this, reply);
    }

    @Override
    public void onFailure(long correlationId, StatusException failure) {
        binding.caller.failed(this, failure);
    }

    /** Fails the caller's future and lets the peer know nobody waits any more. */
    void fail(StatusException why) {
        completeExceptionally(why);
        cancelRequest();
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
        boolean cancelled = super.cancel(mayInterruptIfRunning);
        if (cancelled) {
            cancelRequest();
        }
        return cancelled;
    }

    private void cancelRequest() {
        long id = requestId;
        if (id != 0 && binding.caller.connection().cancelRequest(id)) {
            binding.caller.forget(); // its handler will not be called: the bookkeeping ends here
        }
    }
}
