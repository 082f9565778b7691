package dev.capwire.handshake;

import dev.capwire.transport.Transport;

/**
 * A listener of the handshake layer ({@link HandshakeListener}, {@link ReconnectingClient.Listener}) threw:
 * the failure goes to the transport's one error handler ({@code TransportOptions.errorHandler()}), never to
 * the console, and whoever called the listener carries on.
 */
final class ListenerFailure {
    private ListenerFailure() {
    }

    /**
     * Reports {@code failure} wrapped in an {@link IllegalStateException} whose message is {@code which} (the
     * listener and the call that threw), what it threw, and {@code carryingOn}. A handler that throws in turn
     * is ignored, as the event loop ignores it: there is nobody left to tell.
     */
    static void report(Transport transport, String which, Throwable failure, String carryingOn) {
        IllegalStateException wrapped = new IllegalStateException(which + " threw " + failure + "; " + carryingOn,
                failure);
        try {
            transport.options().errorHandler().onError(wrapped);
        } catch (RuntimeException | Error ignored) {
            // An error handler that fails has nobody left to tell.
        }
    }
}
