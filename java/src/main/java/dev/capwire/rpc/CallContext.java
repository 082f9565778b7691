package dev.capwire.rpc;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.transport.Connection;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * The call a handler is serving, or the deadline scope a caller opened: when it must be done by, whether it
 * is still wanted, and (for a served call) who made it, as the kernel saw it.
 *
 * <p>It is the current thread's while a handler runs ({@link #current()}), and every call the handler makes
 * through a Capwire proxy on that thread inherits it: such a call never gets more time than is left, and it
 * is cancelled when this one is. gRPC's context does the same with deadlines and cancellation; unlike gRPC,
 * the caller's identity is here too, because the transport verified it when the connection was made. Work
 * that must outlive the call (a cache refresh it triggered, say) runs under {@link #detached}.
 */
public final class CallContext {
    /**
     * The current thread's scope: a {@code CallContext}, or the {@link Source} of a served call whose context
     * has not been asked for yet (most handlers never ask, so most calls never make one).
     */
    private static final ThreadLocal<Scope> CURRENT = ThreadLocal.withInitial(Scope::new);
    /**
     * False until some thread first entered a scope. A thread only ever reads its own scope, and a thread that
     * entered one wrote this first, so a thread that reads false has no scope: a caller on a thread that never
     * serves or opens a scope (a client's, say) skips the thread-local lookup per call. Set once, read-first, so
     * the loops that serve calls do not write its cache line per call.
     */
    private static boolean used;
    private static final long NO_DEADLINE = Long.MAX_VALUE;
    private static final int FIRST_PRUNE = 16;
    private static final java.util.function.Predicate<Runnable> CALL_ENDED =
            hook -> hook instanceof CallHook && ((CallHook) hook).callEnded();

    private final long deadlineNanos;
    private final PeerCredentials peer;
    private final Connection connection; // null for a local scope
    private final String capName;
    private final String methodName;
    private final CallContext parent;
    private List<Runnable> onCancel; // guarded by this
    /** The hook count at which {@link #onCancel} next drops the hooks of calls that ended; guarded by this. */
    private int pruneAt = FIRST_PRUNE;
    private volatile StatusException cancellation;

    CallContext(long deadlineNanos, Connection connection, PeerCredentials peer, String capName, String methodName,
            CallContext parent) {
        this.deadlineNanos = parent == null ? deadlineNanos : Math.min(deadlineNanos, parent.deadlineNanos);
        this.connection = connection;
        this.peer = peer;
        this.capName = capName;
        this.methodName = methodName;
        this.parent = parent;
    }

    /**
     * A served call that makes its context only when someone asks for it ({@link #current()}, a child call,
     * a cancellation hook). Once made, the call keeps and returns that one context; it is an object of its own,
     * so what the handler holds stays valid however the server reuses its bookkeeping after the call.
     */
    interface Source {
        CallContext context();
    }

    /**
     * A thread's scope holder: its {@code value} is the current {@code CallContext}, or the {@link Source} of a served
     * call whose context has not been asked for yet, or null. One per thread, so entering a scope and leaving it
     * are field writes, and a loop that serves call after call keeps its holder and looks nothing up per call.
     */
    static final class Scope {
        Object value;
    }

    /** The current thread's scope holder, for a server that enters calls itself ({@link CallRunner}). */
    static Scope scope() {
        if (!used) {
            used = true;
        }
        return CURRENT.get();
    }

    /** The context of the call this thread is serving, or of the deadline scope it is in; null when none. */
    public static CallContext current() {
        if (!used) {
            return null;
        }
        Object scope = CURRENT.get().value;
        return scope == null || scope instanceof CallContext ? (CallContext) scope : ((Source) scope).context();
    }

    /**
     * Runs {@code body} with a deadline {@code timeout} from now (never later than the current context's):
     * every Capwire call it makes gets at most the time left, and they are all cancelled when the current
     * context is.
     */
    public static <T> T withTimeout(Duration timeout, Callable<T> body) throws Exception {
        CallContext parent = current();
        CallContext scope = new CallContext(deadlineIn(timeout.toNanos()), parent == null ? null : parent.connection,
                parent == null ? null : parent.peer,
                parent == null ? null : parent.capName, parent == null ? null : parent.methodName, parent);
        if (parent == null) {
            return scope.run(body);
        }
        NestedScope nested = new NestedScope(scope, parent);
        parent.onCancel(nested);
        try {
            return scope.run(body);
        } finally {
            nested.bodyReturned = true;
        }
    }

    /**
     * Cancels a {@link #withTimeout} scope with its parent. Once the scope's body returned and nothing it started
     * still waits on the scope (every call it made ended, no hook of the user's), the parent drops it: a handler that
     * lives long (a stream's) and opens a scope per item would otherwise keep every scope, and the calls each made.
     */
    private static final class NestedScope implements CallHook {
        private final CallContext scope;
        private final CallContext parent;
        volatile boolean bodyReturned;

        NestedScope(CallContext scope, CallContext parent) {
            this.scope = scope;
            this.parent = parent;
        }

        @Override
        public void run() {
            scope.cancel(parent.cancellation);
        }

        @Override
        public boolean callEnded() {
            return bodyReturned && scope.waitsOnNothing();
        }
    }

    /** True when no hook is left that a cancellation would still have to run (pruning those of ended calls). */
    private synchronized boolean waitsOnNothing() {
        if (onCancel == null) {
            return true;
        }
        onCancel.removeIf(CALL_ENDED);
        return onCancel.isEmpty();
    }

    /**
     * Runs {@code body} outside any call: calls it makes inherit no deadline and no cancellation. For work a
     * handler starts that must go on after its call ends.
     */
    public static <T> T detached(Callable<T> body) throws Exception {
        Scope scope = scope();
        Object saved = scope.value;
        scope.value = null;
        try {
            return body.call();
        } finally {
            scope.value = saved;
        }
    }

    <T> T run(Callable<T> body) throws Exception {
        Scope scope = scope();
        Object saved = scope.value;
        scope.value = this;
        try {
            return body.call();
        } finally {
            scope.value = saved;
        }
    }

    static long deadlineIn(long timeoutNanos) {
        return deadlineAt(System.nanoTime(), timeoutNanos);
    }

    /** The deadline {@code timeoutNanos} after {@code now} ({@link System#nanoTime()}'s scale); none for 0. */
    static long deadlineAt(long now, long timeoutNanos) {
        return timeoutNanos <= 0 || now + timeoutNanos < now ? NO_DEADLINE : now + timeoutNanos;
    }

    /** The time left before the deadline (zero once past it); {@code null} when there is no deadline. */
    public Duration timeLeft() {
        if (deadlineNanos == NO_DEADLINE) {
            return null;
        }
        return Duration.ofNanos(Math.max(0, deadlineNanos - System.nanoTime()));
    }

    /** The deadline on {@link System#nanoTime()}'s scale; {@link Long#MAX_VALUE} when there is none. */
    public long deadlineNanos() {
        return deadlineNanos;
    }

    /** True once the call is no longer wanted: cancelled by its caller, past its deadline, revoked or closed. */
    public boolean isCancelled() {
        return cancellation != null || System.nanoTime() - deadlineNanos > 0;
    }

    /** Why the call is over ({@code CANCELLED}, {@code DEADLINE_EXCEEDED}, {@code UNAVAILABLE}), or null. */
    public StatusException cancellation() {
        StatusException why = cancellation;
        if (why == null && System.nanoTime() - deadlineNanos > 0) {
            return new StatusException(StatusCode.DEADLINE_EXCEEDED, "call.deadline", "the call's deadline passed",
                    null);
        }
        return why;
    }

    /**
     * Runs {@code hook} once the call is cancelled (at once if it already is), on the thread that cancels it:
     * keep it short. A deadline that passes on this side's clock without the caller's CANCEL does not run it;
     * poll {@link #isCancelled()} for that.
     */
    public void onCancel(Runnable hook) {
        synchronized (this) {
            if (cancellation == null) {
                if (onCancel == null) {
                    onCancel = new ArrayList<>(2);
                }
                if (onCancel.size() >= pruneAt) {
                    // Every call made under a context hooks itself on here: one that lives long (a deadline scope
                    // around a batch, a streaming handler) would otherwise keep every call it ever made, and each
                    // one's result. Pruned as the list doubles, so a hook costs O(1) however many come.
                    onCancel.removeIf(CALL_ENDED);
                    pruneAt = Math.max(FIRST_PRUNE, 2 * onCancel.size());
                }
                onCancel.add(hook);
                return;
            }
        }
        hook.run();
    }

    /** The kernel-verified pid, uid and gid of the process that made the call; null on TCP or for a local scope. */
    public PeerCredentials peer() {
        return peer;
    }

    /**
     * A new pidfd for the caller's process where the platform has one (Linux 6.5+), which names that process and
     * no other even after it exits, unlike its pid: for a policy that must be sure whom it checks, or to watch the
     * caller's life. The handler owns it and closes it. Empty on TCP, older kernels and other platforms, and for a
     * local scope.
     */
    public Optional<FileDescriptor> peerPidfd() {
        return connection == null ? Optional.empty() : connection.peerPidfd();
    }

    /** The name of the cap being called; null for a local scope. */
    public String capName() {
        return capName;
    }

    /** The name of the method being called; null for a local scope. */
    public String methodName() {
        return methodName;
    }

    /** The context this one lives within (the served call around a {@link #withTimeout} scope), or null. */
    public CallContext parent() {
        return parent;
    }

    /** A hook of Capwire's own for one call made under this context: nothing to cancel once that call ended. */
    interface CallHook extends Runnable {
        boolean callEnded();
    }

    /** Marks the call over and runs the hooks, once; later calls do nothing. */
    void cancel(StatusException why) {
        List<Runnable> hooks;
        synchronized (this) {
            if (cancellation != null) {
                return;
            }
            cancellation = why != null ? why
                    : new StatusException(StatusCode.CANCELLED, "call.cancelled", "the call was cancelled", null);
            hooks = onCancel;
            onCancel = null;
        }
        if (hooks != null) {
            for (Runnable hook : hooks) {
                hook.run();
            }
        }
    }

    @Override
    public String toString() {
        return capName == null ? "deadline scope" : "call to " + capName + "." + methodName;
    }
}
