package dev.capwire.rpc;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Answers the calls one connection serves, each exactly once ({@link RunningCall#answerOnce}), whichever
 * answer comes first: its handler's value or failure (a handler's exception becomes an ERROR and never reaches
 * the loop), its revocation, or an error found on the way. The call leaves the table of running calls and is
 * counted before its answer is sent, and is reported (the observer, the JFR events) after.
 */
final class Answerer {
    private static final AtomicIntegerFieldUpdater<Answering> DONE =
            AtomicIntegerFieldUpdater.newUpdater(Answering.class, "done");

    private final RpcConnection rpc;
    private final RunningCalls calls;

    Answerer(RpcConnection rpc, RunningCalls calls) {
        this.rpc = rpc;
        this.calls = calls;
    }

    /** The sink a callback-form handler of {@code call} answers through; made on the handler's thread. */
    Answering sinkFor(RunningCall call) {
        return new Answering(call);
    }

    /**
     * The {@link ResultSink} a callback-form handler answers through: one per call, since the handler may keep
     * it. It answers its own call once and then never touches it again; so that a kept sink can never reach a
     * later call, its call is reused only when this sink answered it on the handler's own thread before the
     * handler returned (then it is done, and inert).
     */
    final class Answering implements ResultSink<Object> {
        private final RunningCall call;
        private final Thread handlerThread = Thread.currentThread();
        private volatile int done;
        /** Answered on the handler's thread while the handler ran (handler's thread only). */
        private boolean inline;
        private boolean handlerRunning = true; // handler's thread only

        private Answering(RunningCall call) {
            this.call = call;
        }

        void handlerReturned() {
            handlerRunning = false;
            if (!inline) {
                call.reusable = false; // answered later, elsewhere, or by a failure: this sink may still hold it
            }
        }

        private boolean first() {
            if (!DONE.compareAndSet(this, 0, 1)) {
                return false;
            }
            if (Thread.currentThread() == handlerThread && handlerRunning) {
                inline = true;
            }
            return true;
        }

        @Override
        public void result(Object value) {
            if (first()) {
                answerValue(call, value);
            }
        }

        @Override
        public void failed(StatusException why) {
            if (first()) {
                answerFailure(call, why == null ? new NullPointerException(call.spec + " failed with null") : why);
            }
        }
    }

    void answerValue(RunningCall call, Object value) {
        if (call.spec.kind != MethodSpec.Kind.STREAM && call.spec.result != Codecs.NONE && value == null) {
            answerFailure(call, new NullPointerException(call.spec + " returned null"));
            return;
        }
        Outgoing out = rpc.outgoing();
        try {
            answerValue(call, value, out);
        } finally {
            out.recycle();
        }
    }

    private void answerValue(RunningCall call, Object value, Outgoing out) {
        FileDescriptor[] fds;
        UnsafeBuffer answer;
        try {
            if (call.spec.kind != MethodSpec.Kind.STREAM) {
                call.spec.result.encode(value, out);
            }
            answer = out.answer();
            fds = out.fds();
        } catch (StatusException e) {
            out.abandon();
            answerError(call, e.code(), e.reason(), e.detail());
            return;
        } catch (RuntimeException e) {
            out.abandon();
            answerFailure(call, e);
            return;
        }
        try {
            if (!call.answerOnce()) {
                out.abandon(); // revoked or cancelled meanwhile, and answered then
                return;
            }
            calls.finished(call, StatusCode.OK); // before the answer leaves (see answerError)
            try {
                rpc.connection().respond(call.id, answer, 0, answer.capacity(), fds);
            } catch (StatusException e) {
                out.abandon();
            }
            report(call, StatusCode.OK);
        } finally {
            for (FileDescriptor fd : fds) {
                fd.close(); // a result's fds are Capwire's once returned: sent (as duplicates), then closed
            }
        }
    }

    void answerFailure(RunningCall call, Throwable failure) {
        if (failure instanceof StatusException) {
            StatusException status = (StatusException) failure;
            answerError(call, status.code(), status.reason().isEmpty() ? "handler.status" : status.reason(),
                    status.detail());
            return;
        }
        String what = "handler of " + call.capName + "." + call.spec.name + " on " + rpc.connection() + " failed";
        rpc.reportError(new IllegalStateException(what, failure));
        RpcEvents.error(rpc, call.capName, what, failure);
        if (failure instanceof Error) {
            // An Error may have left the handler's object broken: this connection ends, the others carry on.
            answerError(call, StatusCode.INTERNAL, "handler.failed", "the handler failed");
            rpc.connection().abort();
            return;
        }
        answerError(call, StatusCode.INTERNAL, "handler.failed", rpc.connection().options().exposeHandlerErrors()
                ? "the handler failed: "
                + failure : "the handler failed");
    }

    void answerError(RunningCall call, StatusCode code, String reason, String message) {
        if (call.answerOnce()) {
            // Out of the table and counted before the answer leaves, so a caller that has its answer and then asks
            // the runtime cap finds the call counted; counted after, a handler thread could still be between the two
            // when the question came. Once answerOnce has claimed the call, nothing else can answer or count it.
            calls.finished(call, code);
            rpc.respondError(call.id, code, reason, message);
            report(call, code);
        }
    }

    /**
     * After the answer left, or after the connection closed under the call: the observer and the JFR events, whose
     * time is not the caller's.
     */
    void report(RunningCall call, StatusCode status) {
        if (call.timed) {
            RpcEvents.served(rpc, call.capName, call.spec.name, status, call.arrivalNanos);
        }
        if (call.stream != null) {
            RpcEvents.streamEnded(rpc, call.capName, call.spec.name, status, call.stream.items());
        }
    }
}
