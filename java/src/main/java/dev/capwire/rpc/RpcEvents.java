package dev.capwire.rpc;

import dev.capwire.wire.StatusCode;
import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.Timespan;

/**
 * The RPC layer's events, each told to the {@link RpcObserver} and recorded as a JFR event (category
 * "Capwire", so calls show in Mission Control beside the JVM's own events). A JFR event that is not enabled
 * costs a check of one flag.
 */
final class RpcEvents {
    private RpcEvents() {
    }

    static void bootstrapped(RpcConnection rpc, String capName, StatusCode status) {
        BootstrapEvent event = new BootstrapEvent();
        if (event.shouldCommit()) {
            event.fill(rpc, capName, status.name()).commit();
        }
        RpcObserver observer = observer(rpc);
        if (observer != null) {
            tell(rpc, () -> observer.bootstrapped(rpc.connection().id(), capName, status));
        }
    }

    /**
     * Whether a call arriving now is timed for {@link #served}: an observer is set, or a recording has the JFR Call
     * event on (a call that arrived before the recording started is not recorded). Checked once per call, so
     * that an untimed call reads no clock for it.
     */
    static boolean timesCalls(RpcConnection rpc) {
        return observer(rpc) != null || new CallEvent().isEnabled();
    }

    /** A timed call ({@link #timesCalls}) was answered; {@code startNanos} is when it arrived. */
    static void served(RpcConnection rpc, String capName, String methodName, StatusCode status, long startNanos) {
        long nanos = System.nanoTime() - startNanos;
        CallEvent event = new CallEvent();
        if (event.shouldCommit()) {
            event.fill(rpc, capName, status.name());
            event.methodName = methodName;
            event.handlingTime = nanos;
            event.commit();
        }
        RpcObserver observer = observer(rpc);
        if (observer != null) {
            tell(rpc, () -> observer.served(rpc.connection().id(), capName, methodName, status, nanos));
        }
    }

    static void streamStarted(RpcConnection rpc, String capName, String methodName) {
        StreamStartEvent event = new StreamStartEvent();
        if (event.shouldCommit()) {
            event.fill(rpc, capName, null);
            event.methodName = methodName;
            event.commit();
        }
        RpcObserver observer = observer(rpc);
        if (observer != null) {
            tell(rpc, () -> observer.streamStarted(rpc.connection().id(), capName, methodName));
        }
    }

    static void streamEnded(RpcConnection rpc, String capName, String methodName, StatusCode status, long items) {
        StreamEvent event = new StreamEvent();
        if (event.shouldCommit()) {
            event.fill(rpc, capName, status.name());
            event.methodName = methodName;
            event.items = items;
            event.commit();
        }
        RpcObserver observer = observer(rpc);
        if (observer != null) {
            tell(rpc, () -> observer.streamEnded(rpc.connection().id(), capName, methodName, status, items));
        }
    }

    static void revoked(RpcConnection rpc, String capName, String reason) {
        RevokeEvent event = new RevokeEvent();
        if (event.shouldCommit()) {
            event.fill(rpc, capName, null);
            event.reason = reason;
            event.commit();
        }
        RpcObserver observer = observer(rpc);
        if (observer != null) {
            tell(rpc, () -> observer.revoked(rpc.connection().id(), capName, reason));
        }
    }

    /** See {@link RpcObserver#error}; {@code capName} is null when no cap is to blame (a protocol error). */
    static void error(RpcConnection rpc, String capName, String what, Throwable cause) {
        ErrorEvent event = new ErrorEvent();
        if (event.shouldCommit()) {
            event.fill(rpc, capName, null);
            event.message = what;
            event.exceptionClass = cause == null ? null : cause.getClass().getName();
            event.commit();
        }
        RpcObserver observer = observer(rpc);
        if (observer != null) {
            tell(rpc, () -> observer.error(rpc.connection().id(), what, cause));
        }
    }

    /** Tells the observer: its exceptions go to the error handler, never to the thread that did the work. */
    private static void tell(RpcConnection rpc, Runnable telling) {
        try {
            telling.run();
        } catch (RuntimeException e) {
            rpc.reportError(e);
        }
    }

    /** The observer to tell, or null when none was set: then nothing is built per call for it. */
    private static RpcObserver observer(RpcConnection rpc) {
        RpcObserver observer = rpc.rpc().options().observer();
        return observer == RpcObserver.NONE ? null : observer;
    }

    /** What every RPC event says: which connection, which cap, and how it ended (where it has an end). */
    abstract static class RpcEvent extends Event {
        @Label("Connection")
        long connectionId;
        @Label("Cap")
        String capName;
        @Label("Status")
        String status;

        RpcEvent fill(RpcConnection rpc, String cap, String outcome) {
            connectionId = rpc.connection().id();
            capName = cap;
            status = outcome;
            return this;
        }
    }

    @Name("dev.capwire.rpc.Bootstrap")
    @Label("RPC Bootstrap")
    @Category("Capwire")
    @Description("A peer asked for a served cap by name")
    static final class BootstrapEvent extends RpcEvent {
    }

    @Name("dev.capwire.rpc.Call")
    @Label("RPC Call Served")
    @Category("Capwire")
    @Description("A call this process served, from its arrival to its answer")
    static final class CallEvent extends RpcEvent {
        @Label("Method")
        String methodName;
        @Label("Handling Time")
        @Timespan(Timespan.NANOSECONDS)
        long handlingTime; // not "duration": JFR reserves that name for every event's own timing
    }

    @Name("dev.capwire.rpc.StreamStart")
    @Label("RPC Stream Started")
    @Category("Capwire")
    @Description("A server stream this process produces started")
    static final class StreamStartEvent extends RpcEvent {
        @Label("Method")
        String methodName;
    }

    @Name("dev.capwire.rpc.Stream")
    @Label("RPC Stream Ended")
    @Category("Capwire")
    @Description("A server stream this process produced ended")
    static final class StreamEvent extends RpcEvent {
        @Label("Method")
        String methodName;
        @Label("Items")
        long items;
    }

    @Name("dev.capwire.rpc.Revoke")
    @Label("RPC Revoke")
    @Category("Capwire")
    @Description("A cap a peer held was revoked")
    static final class RevokeEvent extends RpcEvent {
        @Label("Reason")
        String reason;
    }

    @Name("dev.capwire.rpc.Error")
    @Label("RPC Error")
    @Category("Capwire")
    @Description("A handler threw, or the peer broke the protocol and its connection ends")
    static final class ErrorEvent extends RpcEvent {
        @Label("Message")
        String message;
        @Label("Exception")
        String exceptionClass;
    }
}
