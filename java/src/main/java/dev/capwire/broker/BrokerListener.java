package dev.capwire.broker;

/**
 * Hears what a broker does: registrations, hand-offs and fallbacks. Runs on an event loop or the broker's
 * timer thread, so keep it quick; if it throws, the failure goes to the transport's error handler and the
 * broker carries on. Every method has an empty default, so a listener implements only what it needs.
 */
public interface BrokerListener {
    /** A backend registered {@code services} with fallback {@code backendAddress}; {@code pid} -1 if unknown. */
    default void onRegistered(long pid, java.util.List<String> services, String backendAddress) {
    }

    /** A backend's registration was refused (a service name taken, a malformed Register). */
    default void onRegistrationRefused(long pid, String reason) {
    }

    /** A backend's registration connection closed: its services are gone. */
    default void onDeregistered(long pid, java.util.List<String> services) {
    }

    /** A client of {@code service} was handed to its backend, {@code helloToAckNanos} after its Hello arrived. */
    default void onHandedOff(String service, long clientPid, long helloToAckNanos) {
    }

    /**
     * A client of {@code service} was sent to the backend's own address instead: the hand-off was abandoned
     * ({@code why}: no acknowledgement in time, declined, the backend gone), or the client cannot take a
     * handed-over socket.
     */
    default void onFallback(String service, long clientPid, String why) {
    }

    /** A backend acknowledged a token the broker refused (unknown, used, expired, another service's). */
    default void onTokenRefused(long backendPid, String why) {
    }

    /** The broker started a backend for {@code service} (activation). */
    default void onLaunched(String service, long pid) {
    }

    /** A backend the broker started did not register in time, or could not be started ({@code pid} -1). */
    default void onLaunchFailed(String service, long pid, String why) {
    }

    /**
     * A backend the broker started exited with {@code exitCode}; it restarts in {@code restartInMs} (back-off), or
     * -1 when it does not (a clean exit after registering, or the broker stopping).
     */
    default void onExited(String service, long pid, int exitCode, long restartInMs) {
    }

    /**
     * A backend the broker started served no client connection for {@code idleMs} and is being stopped; it is
     * not restarted until a client asks for {@code service} again.
     */
    default void onIdleStopped(String service, long pid, long idleMs) {
    }
}
