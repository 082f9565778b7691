package dev.capwire.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.Configuration;
import dev.capwire.handshake.Service;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.proto.ServiceOffer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code capwire.broker.maxConcurrentLaunches}: with the limit at one, a second activatable service is not
 * started while the first one's backend (a real process that never registers) is starting, and the client is
 * told why; once the first registered, the second starts.
 */
class ActivationLimitsTest {
    private static Activation sleeper(String service) {
        return Activation.builder(service, "1.0.0", List.of("sleep", "60")).build();
    }

    private static Registration registration(String service) {
        Registration.Offer offer = new Registration.Offer(Service.builder(service, "1.0.0", (c, f) -> { }).build(), 1,
                ServiceOffer.newBuilder().setName(service).setVersion("1.0.0").build());
        return new Registration(null, -1, "unix:/nowhere", Map.of(service, offer));
    }

    @Test
    void aLaunchPastTheLimitIsRefusedWithTheReasonAndStartedOnceALaunchInFlightRegistered() throws Exception {
        try (Transport transport = Transport.create(TransportOptions.defaults());
                Launcher launcher = new Launcher(List.of(sleeper("a"), sleeper("b")), 60_000, 1,
                        new Events(transport, new BrokerListener() { }))) {
            String first = launcher.wanted("a");
            assertTrue(first.startsWith("service 'a' is starting (pid "), first);
            assertEquals(1, launcher.launching());

            String refused = launcher.wanted("b");
            assertTrue(refused.contains(Configuration.BROKER_MAX_CONCURRENT_LAUNCHES_PROP_NAME)
                    && refused.contains("1 backends are starting"), refused);
            assertEquals(1, launcher.running(), "nothing started past the limit");

            launcher.registered(registration("a")); // 'a' is up: its launch is no longer in flight
            assertEquals(0, launcher.launching());
            String second = launcher.wanted("b");
            assertTrue(second.startsWith("service 'b' is starting (pid "), second);
            assertEquals(2, launcher.running());
        } // close stops both sleepers
    }

    @Test
    void theBrokerRefusesALimitBelowOne() throws Exception {
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> Broker.builder(transport).maxConcurrentLaunches(0));
        }
    }
}
