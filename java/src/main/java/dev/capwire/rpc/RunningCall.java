package dev.capwire.rpc;

import dev.capwire.bindings.PeerCredentials;
import dev.capwire.rpc.ExportTable.Export;
import dev.capwire.transport.StatusException;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;

/**
 * A call being served; it is also the task the handler executor runs, and the source of its
 * {@link CallContext}, which is made only if the handler (or a call it makes) asks for it.
 *
 * <p>Reuse. A call run on the loop ({@code nonBlocking}) and answered there before its handler returned
 * is put back in the loop's {@link Pool} and serves a later call, so such a call costs no bookkeeping object. That
 * is safe because nothing outside the loop holds it by then: user code never sees it (its context, when
 * made, is an object of its own that keeps working after the call, and the handler's future is read, not
 * hooked, when it is already done); it is out of the table of running calls; and every other thread that
 * took it from that table (a revocation, the close, a credit or a cancel: see {@link RunningCalls}) marked it
 * {@link #pinned} under the table's lock first, and a pinned call is never reused. A call on the executor,
 * a stream, or one whose future completes later is never reused.
 */
final class RunningCall implements Runnable, CallContext.Source {
    private static final AtomicIntegerFieldUpdater<RunningCall> ANSWERED =
            AtomicIntegerFieldUpdater.newUpdater(RunningCall.class, "answered");

    /**
     * Runs it on a handler thread, and holds the connection it came on ({@code runner.rpc}): one field for both,
     * since a call on the executor is an object per call.
     */
    private final CallRunner runner;
    long id;
    Export target;
    String capName;
    MethodSpec spec;
    /** The call header's timeout_nanos; the deadline is counted from {@link #arrivalNanos}. */
    long timeoutNanos;
    /**
     * When the call arrived, on {@link System#nanoTime()}'s scale; valid once {@link #arrived}. Taken at once for
     * a call on the executor (its time in the queue counts against its deadline) and for a call that is timed
     * ({@link #timed}); for an untimed non-blocking call only when its context is made, which, since the loop
     * runs the handler as soon as the call is decoded, is within the handler's own run.
     */
    long arrivalNanos;
    boolean arrived; // written by the loop before the call is published, then under this
    /** The observer or the JFR Call event wanted this call's handling time when it arrived. */
    boolean timed;
    PeerCredentials caller;
    /** 1 once answered: a call is answered exactly once, by its handler, its revocation or a failure. */
    volatile int answered;
    ProducerStream stream;
    Object implementation;
    Incoming arguments;
    /** The loop may reuse it once answered: a non-blocking, non-stream call whose answer came at once. */
    boolean reusable;
    /** Another thread took it from the table of running calls (guarded by that table's lock). */
    boolean pinned;
    /** It was answered while not pinned, and is out of the table (guarded by that table's lock). */
    boolean finishedUnpinned;
    private CallContext context; // guarded by this; made on demand
    private StatusException cancellation; // guarded by this; a cancellation before the context was made

    private RunningCall(CallRunner runner) {
        this.runner = runner;
    }

    void start(long id, Export target, String capName, MethodSpec spec, long timeoutNanos, boolean loop,
            PeerCredentials caller) {
        this.id = id;
        this.caller = caller;
        this.target = target;
        this.capName = capName;
        this.spec = spec;
        this.timeoutNanos = timeoutNanos;
        // System.nanoTime costs about 30 ns on a VM: a non-blocking call nobody times or asks the deadline of
        // reads the clock not at all (it used to read it three times).
        this.timed = RpcEvents.timesCalls(runner.rpc);
        this.arrived = timed || !loop;
        this.arrivalNanos = arrived ? System.nanoTime() : 0;
        ANSWERED.lazySet(this, 0); // nobody else sees it before the table's lock publishes it
        this.stream = null;
        this.implementation = null;
        this.arguments = null;
        this.reusable = false;
        this.pinned = false;
        this.finishedUnpinned = false;
        // No lock: only the loop has touched these since the call before it (a call another thread could
        // cancel was pinned, and a pinned call is never reused).
        this.context = null;
        this.cancellation = null;
    }

    boolean answerOnce() {
        return ANSWERED.compareAndSet(this, 0, 1);
    }

    @Override
    public CallContext context() {
        CallContext made;
        StatusException cancelled;
        synchronized (this) {
            if (context != null) {
                return context;
            }
            if (!arrived) {
                arrivalNanos = System.nanoTime();
                arrived = true;
            }
            made = new CallContext(CallContext.deadlineAt(arrivalNanos, timeoutNanos), runner.rpc.connection(),
                    caller, capName, spec.name, null);
            context = made;
            cancelled = cancellation;
        }
        if (cancelled != null) {
            made.cancel(cancelled);
        }
        return made;
    }

    /** Cancels the call's context, or, when none was made yet, the one it will make. */
    void cancel(StatusException why) {
        CallContext made;
        synchronized (this) {
            if (context == null) {
                if (cancellation == null) {
                    cancellation = why;
                }
                return;
            }
            made = context;
        }
        made.cancel(why);
    }

    @Override
    public void run() {
        runner.run(this, implementation, arguments, CallContext.scope());
    }

    /** Loop only: answered calls to reuse (see {@link RunningCall}, "Reuse"). */
    static final class Pool {
        private final CallRunner runner;
        private final RunningCall[] calls = new RunningCall[16];
        private int pooled;

        Pool(CallRunner runner) {
            this.runner = runner;
        }

        /** A call to start: a pooled one when it runs on the loop and one is there, else a new one. */
        RunningCall take(boolean loop) {
            if (loop && pooled > 0) {
                RunningCall call = calls[--pooled];
                calls[pooled] = null;
                return call;
            }
            return new RunningCall(runner);
        }

        /**
         * Loop: after a non-blocking call's handler returned; keeps it if it may be reused. No lock:
         * {@code finishedUnpinned} is true only when this thread finished the call itself, after seeing under the
         * lock that nobody had pinned it (a thread that pins writes false; the loop reset it for this call).
         */
        void recycle(RunningCall call) {
            if (!call.reusable || !call.finishedUnpinned || pooled == calls.length) {
                return;
            }
            call.target = null;
            call.spec = null;
            call.implementation = null;
            calls[pooled++] = call;
        }
    }
}
