package dev.capwire.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What a client wanting an activatable service is told about the launch, with real processes. */
class LaunchOutcomesTest {
    /** One launch in each catches the race in some of them (about 1 in 25 here); enough that some do. */
    private static final int LAUNCHES = 200;

    /**
     * A backend that exits (code 3) before the launcher registered its exit hook: the hook may then run at once,
     * inside the launch, and the client must be told the child exited and how, not that it "could not be
     * started" with the message of the NullPointerException the launcher met reading the pid of a child gone.
     * A listener told of the launch waits for the exit, so every child is gone by the time the hook is registered.
     */
    @Test
    void aBackendThatExitsAsItStartsIsToldByItsExitCode() throws Exception {
        List<String> wrong = new ArrayList<>();
        BrokerListener waitsForTheExit = new BrokerListener() {
            @Override
            public void onLaunched(String service, long pid) {
                ProcessHandle.of(pid).ifPresent(child -> child.onExit().join());
            }
        };
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            for (int launch = 0; launch < LAUNCHES; launch++) {
                try (Launcher launcher = new Launcher(List.of(Activation.builder("exits", "1.0.0",
                        List.of("sh", "-c", "exit 3")).build()), 60_000, 1, new Events(transport, waitsForTheExit))) {
                    String told = launcher.wanted("exits");
                    if (!told.startsWith("service 'exits' is starting (pid ")
                            && !told.startsWith("service 'exits' exited with code 3 as it started (pid ")) {
                        wrong.add(told);
                    }
                }
            }
        }
        assertEquals(List.of(), wrong, "what clients were told");
    }
}
