package dev.capwire.rpc;

import dev.capwire.rpc.ImportTable.Import;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.ReplyHandler;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;

/**
 * The calls one connection makes in the callback form ({@link ResultSink}): no future per call. The transport
 * request's reply handler decodes the answer on the loop and hands it to the sink as it is (a
 * {@code DirectBuffer} as a view, valid while the sink runs). The handler is kept for the next call with the same
 * sink, method and cap, so a caller that passes one sink to every call costs no object per call here. Encoding and
 * sending are the {@link Caller}'s, as for every other form.
 */
final class CallbackCalls {
    private final Caller caller;
    /** The one {@link Callback} kept (see {@link #call}); immutable, so a racy read is safe. */
    private Callback lastCallback;

    CallbackCalls(Caller caller) {
        this.caller = caller;
    }

    /** Sends one call whose answer or failure goes to {@code sink}; throws when it could not be sent. */
    void call(Import target, MethodSpec spec, Object argument, ResultSink<Object> sink) {
        CallContext context = caller.context();
        Callback handler = callbackFor(target, spec, sink);
        long requestId = caller.request(target, spec.id, spec.argument, argument, 0, 0, context, handler);
        String revoked = target.revoked;
        if (revoked != null) {
            // Revoked while it was being sent: the REVOKE's sweep of the pending calls may have missed it.
            end(requestId, handler, new StatusException(StatusCode.UNAVAILABLE, revoked, "the cap was revoked", null));
        } else if (context != null) {
            context.onCancel(new EndOnCancel(this, requestId, handler, context));
        }
    }

    private Callback callbackFor(Import target, MethodSpec spec, ResultSink<Object> sink) {
        Callback kept = lastCallback;
        if (kept != null && kept.sink == sink && kept.spec == spec && kept.target == target) {
            return kept;
        }
        Callback made = new Callback(caller, target, spec, sink);
        lastCallback = made;
        return made;
    }

    /** The peer revoked {@code target}: ends request {@code requestId} with {@code why} if it is a call of this form on it. */
    void failIfOn(Import target, ReplyHandler handler, long requestId, StatusException why) {
        if (handler instanceof Callback callback && callback.target == target) {
            end(requestId, callback, why);
        }
    }

    /**
     * Ends a call before its answer: the sink hears {@code why}, unless the answer came first. Exactly once: the
     * transport's {@code cancelRequest} claims the request against its answer, its deadline and the close, and only
     * the winner reaches the sink (and ends the call's in-flight count).
     */
    private void end(long requestId, Callback handler, StatusException why) {
        if (caller.connection().cancelRequest(requestId)) {
            caller.forget(); // its handler will not be called: the bookkeeping ends here
            handler.deliverFailure(why);
        }
    }

    /**
     * Ends a call when the context it was made under is cancelled; ended with its request, so a long-lived context
     * lets go of it (and of the sink it reaches) once the answer came.
     */
    private static final class EndOnCancel implements CallContext.CallHook {
        private final CallbackCalls calls;
        private final long requestId;
        private final Callback handler;
        private final CallContext context;

        EndOnCancel(CallbackCalls calls, long requestId, Callback handler, CallContext context) {
            this.calls = calls;
            this.requestId = requestId;
            this.handler = handler;
            this.context = context;
        }

        @Override
        public void run() {
            calls.end(requestId, handler, context.cancellation());
        }

        @Override
        public boolean callEnded() {
            return !calls.caller.connection().isRequestPending(requestId);
        }
    }

    /**
     * The transport request of a call in this form: one object for many calls, so it holds nothing per call. A
     * REVOKE finds the calls on a cap by its {@link #target} in the transport's request table.
     */
    private static final class Callback implements ReplyHandler {
        final Caller caller;
        final Import target;
        final MethodSpec spec;
        final ResultSink<Object> sink;

        Callback(Caller caller, Import target, MethodSpec spec, ResultSink<Object> sink) {
            this.caller = caller;
            this.target = target;
            this.spec = spec;
            this.sink = sink;
        }

        @Override
        public void onReply(long correlationId, InboundFrame reply) {
            caller.forget();
            Answer answer = Answer.take(caller.spareAnswer(), caller.rpc(), reply);
            try {
                Object value;
                try {
                    value = answer.check().decode(spec.result);
                } catch (RuntimeException e) {
                    deliverFailure(Caller.decodeFailure(e));
                    return;
                }
                try {
                    sink.result(value);
                } catch (RuntimeException e) {
                    caller.rpc().reportError(e); // the caller's sink threw, on the loop: reported, never the loop's
                }
            } finally {
                answer.release(); // after the sink: a view it was handed stays valid while it runs
            }
        }

        @Override
        public void onFailure(long correlationId, StatusException failure) {
            caller.forget();
            deliverFailure(failure);
        }

        void deliverFailure(StatusException why) {
            try {
                sink.failed(why);
            } catch (RuntimeException e) {
                caller.rpc().reportError(e);
            }
        }
    }
}
