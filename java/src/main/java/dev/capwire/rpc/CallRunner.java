package dev.capwire.rpc;

import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;

/**
 * Runs the handlers of the calls one connection serves: a method declared non-blocking at once on the loop,
 * any other on the handler executor. Each handler runs inside its call's scope (the call is its thread's
 * current {@link CallContext} source), after its argument is decoded, and its call is answered by the
 * method's kind; a handler's exception goes to the {@link Answerer} and never reaches the loop.
 */
final class CallRunner {
    /** The connection whose calls it runs; their contexts name it. */
    final RpcConnection rpc;
    private final RpcOptions options;
    private final Answerer answerer;

    CallRunner(RpcConnection rpc, RpcOptions options, Answerer answerer) {
        this.rpc = rpc;
        this.options = options;
        this.answerer = answerer;
    }

    /** Loop: runs {@code call}'s handler now, on the loop, its argument decoded from {@code in}. */
    void runOnLoop(RunningCall call, Object implementation, Incoming in) {
        run(call, implementation, in, loopScope());
    }

    /** Loop: hands {@code call} to the handler executor, which runs it ({@link RunningCall#run}) with {@code in}. */
    void runOnExecutor(RunningCall call, Object implementation, Incoming in) {
        call.implementation = implementation;
        call.arguments = in;
        try {
            options.executor().execute(call);
        } catch (RejectedExecutionException e) {
            in.discard();
            answerer.answerError(call, StatusCode.RESOURCE_EXHAUSTED, "handler.executor",
                    "every handler thread is busy (capwire.rpc.handlerThreads)");
        } catch (RuntimeException e) {
            // A broken executor (a user's) that did not take the call: unanswered, it would stay among the running
            // calls for the connection's life, holding one of the peer's maxInFlight and the caps it brought.
            in.discard();
            rpc.reportError(e);
            answerer.answerError(call, StatusCode.INTERNAL, "handler.failed", "the handler executor failed");
        }
    }

    /**
     * Loop: the scope holder of the thread running this loop work, kept across calls (a thread-local lookup per
     * call otherwise); looked up again when another thread runs the loop (invoker mode).
     */
    private CallContext.Scope loopScope() {
        Thread thread = Thread.currentThread();
        if (thread != loopScopeThread) {
            loopScope = CallContext.scope();
            loopScopeThread = thread;
        }
        return loopScope;
    }

    private Thread loopScopeThread; // loop only
    private CallContext.Scope loopScope; // loop only

    /**
     * Runs {@code call}'s handler with {@code scope}, the running thread's scope holder: the loop's
     * ({@link #runOnLoop}) or a handler thread's ({@link RunningCall#run}).
     */
    void run(RunningCall call, Object implementation, Incoming in, CallContext.Scope scope) {
        if (call.answered != 0) {
            // Answered before its handler could start (it waited for a handler thread): its export was revoked,
            // or the connection closed. The handler must not run for a call that has ended.
            in.discard();
            in.clear();
            return;
        }
        Object argument;
        try {
            argument = call.spec.argument.decode(in);
            in.requireAllTaken();
        } catch (Codec.MalformedException e) {
            in.discard();
            answerer.answerError(call, StatusCode.INVALID_ARGUMENT, "args.malformed", call.spec + ": "
                    + e.getMessage());
            return;
        } catch (StatusException e) {
            in.discard();
            answerer.answerError(call, e.code(), e.reason(), e.detail());
            return;
        } finally {
            in.clear();
        }
        Object result;
        Answerer.Answering answering = call.spec.kind == MethodSpec.Kind.CALLBACK ? answerer.sinkFor(call) : null;
        Object saved = scope.value;
        scope.value = call;
        try {
            result = call.spec.invoke(implementation, argument, answering != null ? answering : call.stream);
        } catch (Throwable e) {
            answerer.answerFailure(call, e);
            return;
        } finally {
            scope.value = saved;
            if (answering != null) {
                answering.handlerReturned();
            }
        }
        switch (call.spec.kind) {
            case UNARY:
                answerer.answerValue(call, result);
                break;
            case ASYNC:
                if (result == null) {
                    answerer.answerFailure(call, new NullPointerException(call.spec + " returned a null future"));
                    break;
                }
                CompletableFuture<?> future = (CompletableFuture<?>) result;
                if (future.isDone() && !future.isCompletedExceptionally()) {
                    answerer.answerValue(call, future.getNow(null)); // nothing to hook: no stage, no cancel hook
                    break;
                }
                call.reusable = false; // the stage below holds it until the future completes
                call.context().onCancel(() -> future.cancel(true));
                future.whenComplete((value, failure) -> {
                    if (failure != null) {
                        answerer.answerFailure(call, causeOf(call, failure));
                    } else {
                        answerer.answerValue(call, value);
                    }
                });
                break;
            case STREAM:
                answerer.answerValue(call, null); // the handler returned: the stream completed
                break;
            case CALLBACK:
                break; // answered, or to be answered, through its sink

            default:
                throw new IllegalStateException(call.spec.kind.toString());
        }
    }

    /**
     * Why a handler's future failed. When the call's own cancellation (the caller's CANCEL, its deadline, a
     * revocation, the close) cancelled it through the hook above, that is how the call ends, not a failure of the
     * handler's: it is answered with the cancellation's status and reported nowhere, or every cancelled call would
     * log a warning with a stack trace.
     */
    private static Throwable causeOf(RunningCall call, Throwable failure) {
        if (failure instanceof CancellationException) {
            StatusException cancellation = call.context().cancellation();
            if (cancellation != null) {
                return cancellation;
            }
        }
        return failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
    }
}
