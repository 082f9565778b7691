package dev.capwire.broker;

import dev.capwire.handshake.Service;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which backend serves which service. A service has one backend at a time: a second registration naming it is
 * refused whole, so a backend never serves some of what it asked for without knowing.
 */
final class Registry {
    private final Map<String, Registration> byService = new HashMap<>(); // guarded by this
    /** The services as the Hello checks look them up; changed only under this, read from any loop. */
    private final Map<String, Service> services = new ConcurrentHashMap<>();

    /** Adds {@code registration}; null when done, else why not (nothing was added). */
    synchronized String add(Registration registration) {
        for (String name : registration.offers.keySet()) {
            Registration holder = byService.get(name);
            if (holder != null) {
                return "service '" + name + "' is already registered by another backend"
                        + (holder.pid >= 0 ? " (pid " + holder.pid + ")" : "");
            }
        }
        registration.offers.forEach((name, offer) -> {
            byService.put(name, registration);
            services.put(name, offer.service());
        });
        return null;
    }

    /** Removes {@code registration}'s services; false when it held none (it never registered). */
    synchronized boolean remove(Registration registration) {
        boolean held = false;
        for (String name : registration.offers.keySet()) {
            if (byService.remove(name, registration)) {
                services.remove(name);
                held = true;
            }
        }
        return held;
    }

    synchronized Registration backendFor(String service) {
        return byService.get(service);
    }

    /** The registered services by name, for the Hello checks (a live view). */
    Map<String, Service> services() {
        return services;
    }

    synchronized List<String> serviceNames() {
        return byService.keySet().stream().sorted().toList();
    }

    synchronized int backends() {
        return (int) new HashMap<>(byService).values().stream().distinct().count();
    }
}
