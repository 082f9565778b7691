package dev.capwire.handshake;

/** Hears every handshake's outcome on a server; runs on the event loop, so keep it quick. */
@FunctionalInterface
public interface HandshakeListener {
    void onHandshake(HandshakeOutcome outcome);
}
