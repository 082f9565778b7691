package dev.capwire.broker;

import dev.capwire.Configuration;
import dev.capwire.handshake.Service;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

/**
 * Which backends serve which service. A service may have up to {@code maxBackendsPerService} backends, all on the
 * same terms (the Hello checks judge a client against one set); a registration that would break either rule for
 * any of its services is refused whole, so a backend never serves some of what it asked for without knowing. A
 * client goes to the least loaded backend of its service (see {@link #backendFor}).
 */
final class Registry {
    /** Why a registration was refused, and the code the backend is told. */
    record Refusal(boolean limit, String reason) {
    }

    private final int maxBackendsPerService;
    /** Each service's backends in the order they registered; guarded by this. */
    private final Map<String, List<Registration>> byService = new HashMap<>();
    /** The services as the Hello checks look them up; changed only under this, read from any loop. */
    private final Map<String, Service> services = new ConcurrentHashMap<>();

    Registry(int maxBackendsPerService) {
        this.maxBackendsPerService = maxBackendsPerService;
    }

    /** Adds {@code registration}; null when done, else why not (nothing was added). */
    synchronized Refusal add(Registration registration) {
        for (Map.Entry<String, Registration.Offer> offered : registration.offers.entrySet()) {
            String name = offered.getKey();
            List<Registration> holders = byService.getOrDefault(name, List.of());
            if (holders.size() >= maxBackendsPerService) {
                return new Refusal(true, "service '" + name + "' already has " + holders.size() + " backend"
                        + (holders.size() == 1 ? "" : "s") + " (" + pids(holders) + "), the most "
                        + Configuration.BROKER_MAX_BACKENDS_PER_SERVICE_PROP_NAME + " allows");
            }
            if (!holders.isEmpty() && !holders.get(0).offers.get(name).terms().equals(offered.getValue().terms())) {
                return new Refusal(false, "service '" + name + "' is registered (" + pids(holders) + ") on other"
                        + " terms: every backend of a service must offer the same version, client versions and"
                        + " capabilities");
            }
        }
        registration.offers.forEach((name, offer) -> {
            byService.computeIfAbsent(name, n -> new ArrayList<>()).add(registration);
            services.putIfAbsent(name, offer.service());
        });
        return null;
    }

    /** Removes {@code registration}'s services; false when it held none (it never registered). */
    synchronized boolean remove(Registration registration) {
        boolean held = false;
        for (String name : registration.offers.keySet()) {
            List<Registration> holders = byService.get(name);
            if (holders != null && holders.remove(registration)) {
                held = true;
                if (holders.isEmpty()) {
                    byService.remove(name);
                    services.remove(name);
                }
            }
        }
        return held;
    }

    /**
     * The backend a client of {@code service} goes to, among those {@code usable} admits: the one with the fewest
     * connections by its last Load report plus the clients handed to it since and not fallen back (the reports
     * come at most every 250 ms), the first registered of those equally loaded. Null when none.
     */
    synchronized Registration backendFor(String service, Predicate<Registration> usable) {
        Registration chosen = null;
        for (Registration candidate : byService.getOrDefault(service, List.of())) {
            if (usable.test(candidate) && (chosen == null || candidate.estimatedLoad() < chosen.estimatedLoad())) {
                chosen = candidate;
            }
        }
        return chosen;
    }

    /** The registered services by name, for the Hello checks (a live view). */
    Map<String, Service> services() {
        return services;
    }

    synchronized List<String> serviceNames() {
        return byService.keySet().stream().sorted().toList();
    }

    synchronized int backends() {
        LinkedHashSet<Registration> all = new LinkedHashSet<>();
        byService.values().forEach(all::addAll);
        return all.size();
    }

    private static String pids(List<Registration> holders) {
        return "pid " + String.join(", ", holders.stream().map(r -> Long.toString(r.pid)).toList());
    }
}
