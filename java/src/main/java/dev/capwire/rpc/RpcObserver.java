package dev.capwire.rpc;

import dev.capwire.wire.StatusCode;

/**
 * Told of what the RPC layer does, for metrics and logs (the same events are JFR events too, see
 * docs/architecture.md). Called on the thread where it happened, the event loop included: keep it quick and
 * never block. Its exceptions go to the error handler.
 */
public interface RpcObserver {
    RpcObserver NONE = new RpcObserver() {
    };

    /** A peer bootstrapped {@code capName} on connection {@code connectionId}: OK, or why not. */
    default void bootstrapped(long connectionId, String capName, StatusCode status) {
    }

    /** A call this side served ended, after {@code nanos} from its arrival. */
    default void served(long connectionId, String capName, String methodName, StatusCode status, long nanos) {
    }

    /** A server stream this side produces started: its call arrived and will run. */
    default void streamStarted(long connectionId, String capName, String methodName) {
    }

    /**
     * A server stream this side produced ended after {@code items} items: completed ({@code OK}), cancelled by
     * the consumer or its deadline, revoked, or failed, as {@code status} says.
     */
    default void streamEnded(long connectionId, String capName, String methodName, StatusCode status, long items) {
    }

    /** This side revoked an export (when unserved or replaced), which the peer held. */
    default void revoked(long connectionId, String capName, String reason) {
    }

    /**
     * Something went wrong that no answer tells the peer all of: a handler threw (the peer gets INTERNAL, here is
     * the {@code cause}), or the peer broke the protocol and the connection ends with a GOAWAY ({@code cause}
     * null). {@code what} says which, in words.
     */
    default void error(long connectionId, String what, Throwable cause) {
    }
}
