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
            event.connectionId = rpc.connection().id();
            event.capName = capName;
            event.status = status.name();
            event.commit();
        }
        observe(rpc, () -> rpc.rpc().options().observer().bootstrapped(rpc.connection().id(), capName, status));
    }

    static void served(RpcConnection rpc, String capName, String methodName, StatusCode status, long startNanos) {
        long nanos = System.nanoTime() - startNanos;
        CallEvent event = new CallEvent();
        if (event.shouldCommit()) {
            event.connectionId = rpc.connection().id();
            event.capName = capName;
            event.methodName = methodName;
            event.status = status.name();
            event.handlingTime = nanos;
            event.commit();
        }
        observe(rpc, () -> rpc.rpc().options().observer().served(rpc.connection().id(), capName, methodName, status,
                nanos));
    }

    static void streamEnded(RpcConnection rpc, String capName, String methodName, StatusCode status, long items) {
        StreamEvent event = new StreamEvent();
        if (event.shouldCommit()) {
            event.connectionId = rpc.connection().id();
            event.capName = capName;
            event.methodName = methodName;
            event.status = status.name();
            event.items = items;
            event.commit();
        }
        observe(rpc, () -> rpc.rpc().options().observer().streamEnded(rpc.connection().id(), capName, methodName,
                status, items));
    }

    static void revoked(RpcConnection rpc, String capName, String reason) {
        RevokeEvent event = new RevokeEvent();
        if (event.shouldCommit()) {
            event.connectionId = rpc.connection().id();
            event.capName = capName;
            event.reason = reason;
            event.commit();
        }
        observe(rpc, () -> rpc.rpc().options().observer().revoked(rpc.connection().id(), capName, reason));
    }

    private static void observe(RpcConnection rpc, Runnable notification) {
        if (rpc.rpc().options().observer() == RpcObserver.NONE) {
            return;
        }
        try {
            notification.run();
        } catch (RuntimeException e) {
            rpc.reportError(e);
        }
    }

    @Name("dev.capwire.rpc.Bootstrap")
    @Label("RPC Bootstrap")
    @Category("Capwire")
    @Description("A peer asked for a served cap by name")
    static final class BootstrapEvent extends Event {
        @Label("Connection")
        long connectionId;
        @Label("Cap")
        String capName;
        @Label("Status")
        String status;
    }

    @Name("dev.capwire.rpc.Call")
    @Label("RPC Call Served")
    @Category("Capwire")
    @Description("A call this process served, from its arrival to its answer")
    static final class CallEvent extends Event {
        @Label("Connection")
        long connectionId;
        @Label("Cap")
        String capName;
        @Label("Method")
        String methodName;
        @Label("Status")
        String status;
        @Label("Handling Time")
        @Timespan(Timespan.NANOSECONDS)
        long handlingTime; // not "duration": JFR reserves that name for every event's own timing
    }

    @Name("dev.capwire.rpc.Stream")
    @Label("RPC Stream Ended")
    @Category("Capwire")
    @Description("A server stream this process produced ended")
    static final class StreamEvent extends Event {
        @Label("Connection")
        long connectionId;
        @Label("Cap")
        String capName;
        @Label("Method")
        String methodName;
        @Label("Status")
        String status;
        @Label("Items")
        long items;
    }

    @Name("dev.capwire.rpc.Revoke")
    @Label("RPC Revoke")
    @Category("Capwire")
    @Description("A cap a peer held was revoked")
    static final class RevokeEvent extends Event {
        @Label("Connection")
        long connectionId;
        @Label("Cap")
        String capName;
        @Label("Reason")
        String reason;
    }
}
