package dev.capwire.broker;

import dev.capwire.handshake.Service;
import dev.capwire.transport.Connection;
import java.util.List;
import java.util.Map;

/** One registered backend: its registration connection, its fallback address and the services it serves. */
final class Registration {
    /** A service as the backend offered it: the terms clients must meet, and its capability bits. */
    record Offer(Service service, long capabilities) {
    }

    final Connection connection;
    final long pid;
    final String backendAddress;
    final Map<String, Offer> offers;

    Registration(Connection connection, long pid, String backendAddress, Map<String, Offer> offers) {
        this.connection = connection;
        this.pid = pid;
        this.backendAddress = backendAddress;
        this.offers = Map.copyOf(offers);
    }

    List<String> serviceNames() {
        return offers.keySet().stream().sorted().toList();
    }
}
