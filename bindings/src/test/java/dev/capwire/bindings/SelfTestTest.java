package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(LeakCheck.class)
class SelfTestTest {
    @Test
    void everyCheckPassesOnThisHostAndLeavesNothingOpen() {
        List<SelfTest.Check> checks = SelfTest.run();
        assertEquals(List.of("native library", "poller", "peer credentials", "peer pidfd", "fd passing", "tcp loopback"),
                checks.stream().map(SelfTest.Check::name).toList());
        for (SelfTest.Check check : checks) {
            assertTrue(check.passed(), check.toString());
        }
        assertTrue(checks.get(2).detail().contains("pid=" + ProcessHandle.current().pid()), checks.get(2).detail());
        assertTrue(checks.get(1).detail().startsWith("epoll "), checks.get(1).detail());
        assertTrue(checks.get(0).detail().endsWith("for " + Platform.current()), checks.get(0).detail());
    }
}
