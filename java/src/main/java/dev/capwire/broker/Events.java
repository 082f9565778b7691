package dev.capwire.broker;

import dev.capwire.transport.Transport;
import java.util.List;
import java.util.function.Consumer;
import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.Timespan;

/**
 * What the broker did, told to its {@link BrokerListener} and recorded as a JFR event (category "Capwire",
 * beside the RPC layer's). A JFR event that is not enabled costs a check of one flag; a listener that throws
 * (an Error included) is reported to the transport's error handler, never fatal.
 */
final class Events {
    private final Transport transport;
    private final BrokerListener listener;

    Events(Transport transport, BrokerListener listener) {
        this.transport = transport;
        this.listener = listener;
    }

    void registered(long pid, List<String> services, String backendAddress) {
        RegistrationEvent event = new RegistrationEvent();
        if (event.shouldCommit()) {
            event.backendPid = pid;
            event.services = String.join(",", services);
            event.outcome = "registered at " + backendAddress;
            event.commit();
        }
        tell("onRegistered", l -> l.onRegistered(pid, services, backendAddress));
    }

    void registrationRefused(long pid, String reason) {
        RegistrationEvent event = new RegistrationEvent();
        if (event.shouldCommit()) {
            event.backendPid = pid;
            event.outcome = "refused: " + reason;
            event.commit();
        }
        tell("onRegistrationRefused", l -> l.onRegistrationRefused(pid, reason));
    }

    void deregistered(long pid, List<String> services) {
        RegistrationEvent event = new RegistrationEvent();
        if (event.shouldCommit()) {
            event.backendPid = pid;
            event.services = String.join(",", services);
            event.outcome = "deregistered";
            event.commit();
        }
        tell("onDeregistered", l -> l.onDeregistered(pid, services));
    }

    void handedOff(String service, long clientPid, long helloToAckNanos) {
        HandoffEvent event = new HandoffEvent();
        if (event.shouldCommit()) {
            event.service = service;
            event.clientPid = clientPid;
            event.helloToAck = helloToAckNanos;
            event.outcome = "handed off";
            event.commit();
        }
        tell("onHandedOff", l -> l.onHandedOff(service, clientPid, helloToAckNanos));
    }

    void fallback(String service, long clientPid, String why) {
        HandoffEvent event = new HandoffEvent();
        if (event.shouldCommit()) {
            event.service = service;
            event.clientPid = clientPid;
            event.outcome = "fallback: " + why;
            event.commit();
        }
        tell("onFallback", l -> l.onFallback(service, clientPid, why));
    }

    void tokenRefused(long backendPid, String why) {
        TokenRefusedEvent event = new TokenRefusedEvent();
        if (event.shouldCommit()) {
            event.backendPid = backendPid;
            event.reason = why;
            event.commit();
        }
        tell("onTokenRefused", l -> l.onTokenRefused(backendPid, why));
    }

    void launched(String service, long pid) {
        activation(service, pid, "launched");
        tell("onLaunched", l -> l.onLaunched(service, pid));
    }

    void launchFailed(String service, long pid, String why) {
        activation(service, pid, "failed: " + why);
        tell("onLaunchFailed", l -> l.onLaunchFailed(service, pid, why));
    }

    void exited(String service, long pid, int exitCode, long restartInMs) {
        activation(service, pid, "exited with " + exitCode + (restartInMs >= 0 ? ", restarts in " + restartInMs
                + " ms" : ""));
        tell("onExited", l -> l.onExited(service, pid, exitCode, restartInMs));
    }

    void idleStopped(String service, long pid, long idleMs) {
        activation(service, pid, "stopped: no client connection for " + idleMs + " ms");
        tell("onIdleStopped", l -> l.onIdleStopped(service, pid, idleMs));
    }

    private static void activation(String service, long pid, String outcome) {
        ActivationEvent event = new ActivationEvent();
        if (event.shouldCommit()) {
            event.service = service;
            event.backendPid = pid;
            event.outcome = outcome;
            event.commit();
        }
    }

    private void tell(String what, Consumer<BrokerListener> event) {
        try {
            event.accept(listener);
        } catch (RuntimeException | Error e) {
            // An Error too (a listener's failed assertion, say): the broker's timer and launcher threads run
            // listeners from scheduled tasks, and a task that throws is never run again, so an Error escaping the
            // hand-off sweep would leave every later unacknowledged hand-off, its token and its socket, pending for
            // good; and one escaping Broker.close() would skip the rest of the close.
            try {
                transport.options().errorHandler().onError(new IllegalStateException("BrokerListener "
                        + listener.getClass().getName() + "." + what + " threw " + e + "; the broker carries on", e));
            } catch (RuntimeException | Error ignored) {
                // An error handler that fails has nobody left to tell.
            }
        }
    }

    @Name("dev.capwire.broker.Registration")
    @Label("Broker Registration")
    @Category("Capwire")
    @Description("A backend registered, was refused, or was deregistered")
    static final class RegistrationEvent extends Event {
        @Label("Backend pid")
        long backendPid;
        @Label("Services")
        String services;
        @Label("Outcome")
        String outcome;
    }

    @Name("dev.capwire.broker.Handoff")
    @Label("Broker Hand-off")
    @Category("Capwire")
    @Description("A client's socket was handed to its backend, or the client was sent to the backend's address")
    static final class HandoffEvent extends Event {
        @Label("Service")
        String service;
        @Label("Client pid")
        long clientPid;
        @Label("Hello to ACK")
        @Timespan(Timespan.NANOSECONDS)
        long helloToAck;
        @Label("Outcome")
        String outcome;
    }

    @Name("dev.capwire.broker.TokenRefused")
    @Label("Broker Token Refused")
    @Category("Capwire")
    @Description("A backend acknowledged a token the broker refused")
    static final class TokenRefusedEvent extends Event {
        @Label("Backend pid")
        long backendPid;
        @Label("Reason")
        String reason;
    }

    @Name("dev.capwire.broker.Activation")
    @Label("Broker Activation")
    @Category("Capwire")
    @Description("The broker launched a backend, which exited, failed to register, or restarts")
    static final class ActivationEvent extends Event {
        @Label("Service")
        String service;
        @Label("Backend pid")
        long backendPid;
        @Label("Outcome")
        String outcome;
    }
}
