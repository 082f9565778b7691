package dev.capwire.broker;

import dev.capwire.transport.Transport;
import java.util.function.Consumer;

/** Tells the broker's listener what happened; a listener that throws is reported, never fatal. */
final class Events {
    private final Transport transport;
    private final BrokerListener listener;

    Events(Transport transport, BrokerListener listener) {
        this.transport = transport;
        this.listener = listener;
    }

    void emit(String what, Consumer<BrokerListener> event) {
        try {
            event.accept(listener);
        } catch (RuntimeException e) {
            try {
                transport.options().errorHandler().onError(new IllegalStateException("BrokerListener "
                        + listener.getClass().getName() + " threw on " + what + ": " + e + "; the broker carries on",
                        e));
            } catch (RuntimeException | Error ignored) {
                // An error handler that fails has nobody left to tell.
            }
        }
    }
}
