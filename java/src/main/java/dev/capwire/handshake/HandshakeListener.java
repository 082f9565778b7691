package dev.capwire.handshake;

/**
 * Hears every handshake's outcome on a server; runs on the event loop, so keep it quick. If it throws (an Error
 * included), the failure goes to the transport's error handler ({@code TransportOptions.errorHandler()}) and the server
 * carries on.
 */
@FunctionalInterface
public interface HandshakeListener {
    void onHandshake(HandshakeOutcome outcome);
}
