package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BackoffTest {
    private static final long[] STEPS = {100, 200, 400, 1000, 2000, 5000};

    @Test
    void withoutJitterTheScheduleIsExactAndCapsAtItsLastStep() {
        Backoff backoff = new Backoff(Backoff.DEFAULT_SCHEDULE_MS, 0, new Random(1));
        for (long step : STEPS) {
            assertEquals(step, backoff.nextDelayMs());
        }
        for (int i = 0; i < 1000; i++) {
            assertEquals(5000, backoff.nextDelayMs(), "capped");
        }
    }

    /**
     * Seeds drawn from one seeded generator: java.util.Random's first output barely moves between neighbouring
     * seeds (0, 1, 2, ... all give the same first delay), which is not how independent clients look.
     */
    private static long[] seeds(int count) {
        return new Random(20261123).longs(count).toArray();
    }

    @Test
    void jitterOnlyShortensEachStepAndStaysWithinItsFraction() {
        for (long seed : seeds(200)) {
            Backoff backoff = Backoff.defaults(new Random(seed));
            for (int i = 0; i < 20; i++) {
                long step = STEPS[Math.min(i, STEPS.length - 1)];
                long delay = backoff.nextDelayMs();
                assertTrue(delay >= step / 2 && delay <= step, "attempt " + i + " seed " + seed + ": " + delay
                        + " outside [" + step / 2 + ", " + step + "]");
            }
        }
    }

    @Test
    void jitterSpreadsClientsThatLostTheirConnectionTogether() {
        Set<Long> firstDelays = new HashSet<>();
        for (long seed : seeds(50)) {
            firstDelays.add(Backoff.defaults(new Random(seed)).nextDelayMs());
        }
        assertTrue(firstDelays.size() > 20, "50 clients should not retry in lock step: " + firstDelays);
    }

    @Test
    void theSameSeedGivesTheSameDelays() {
        Backoff a = Backoff.defaults(new Random(42));
        Backoff b = Backoff.defaults(new Random(42));
        for (int i = 0; i < 10; i++) {
            assertEquals(a.nextDelayMs(), b.nextDelayMs());
        }
    }

    @Test
    void resetStartsTheScheduleOver() {
        Backoff backoff = new Backoff(STEPS, 0, new Random(7));
        backoff.nextDelayMs();
        backoff.nextDelayMs();
        assertNotEquals(100, backoff.nextDelayMs());
        backoff.reset();
        assertEquals(100, backoff.nextDelayMs());
    }

    @Test
    void badSchedulesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new Backoff(new long[0], 0, new Random()));
        assertThrows(IllegalArgumentException.class, () -> new Backoff(new long[] {100, 0}, 0, new Random()));
        assertThrows(IllegalArgumentException.class, () -> new Backoff(STEPS, 1.0, new Random()));
        assertThrows(IllegalArgumentException.class, () -> new Backoff(STEPS, -0.1, new Random()));
    }
}
