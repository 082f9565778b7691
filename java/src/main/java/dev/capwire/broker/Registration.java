package dev.capwire.broker;

import dev.capwire.handshake.Service;
import dev.capwire.transport.Connection;
import dev.capwire.wire.proto.ServiceOffer;
import java.util.List;
import java.util.Map;

/** One registered backend: its registration connection, its fallback address and the services it serves. */
final class Registration {
    /**
     * A service as the backend offered it: the terms clients must meet as the checks use them, its capability
     * bits, and the offer as sent ({@code terms}), which every backend of one service must send alike.
     */
    record Offer(Service service, long capabilities, ServiceOffer terms) {
    }

    final Connection connection;
    final long pid;
    final String backendAddress;
    final Map<String, Offer> offers;
    /** Client connections by the backend's last Load report (0 before the first). */
    private int reportedLoad;
    /** Clients handed to it since that report. */
    private int handedOffSinceReport;
    /** Load reports so far: a hand-off counted before the latest one is no longer in handedOffSinceReport. */
    private long reports;

    Registration(Connection connection, long pid, String backendAddress, Map<String, Offer> offers) {
        this.connection = connection;
        this.pid = pid;
        this.backendAddress = backendAddress;
        this.offers = Map.copyOf(offers);
    }

    List<String> serviceNames() {
        return offers.keySet().stream().sorted().toList();
    }

    synchronized void reported(int connections) {
        reportedLoad = connections;
        handedOffSinceReport = 0;
        reports++;
    }

    /** Counts a hand-off as it starts; returns what {@link #handOffFellBack} takes to uncount it. */
    synchronized long handedOff() {
        handedOffSinceReport++;
        return reports;
    }

    /**
     * The hand-off {@link #handedOff} counted (returning {@code countedAt}) fell back and never reached the
     * backend: uncounted, or the backend's load would look higher than it is until its connections change (it
     * reports them only then). A report since then replaced the count already, so there is nothing to take back.
     */
    synchronized void handOffFellBack(long countedAt) {
        if (countedAt == reports) {
            handedOffSinceReport--;
        }
    }

    /** What the broker believes the backend serves now: its last report and the hand-offs since. */
    synchronized long estimatedLoad() {
        return (long) reportedLoad + handedOffSinceReport;
    }
}
