package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The loop's timer wheel fires what is due on the next look, however long the loop was parked before it. */
class TimersTest {
    private long now = 1_000_000_000L;
    private final Timers timers = new Timers(() -> now);

    @Test
    void aTimerDueNowFiresAtTheFirstLookAfterALongPark() {
        List<String> fired = new ArrayList<>();
        timers.schedule(now + TimeUnit.SECONDS.toNanos(10), id -> fired.add("keepalive")); // the wheel is not empty
        now += TimeUnit.MILLISECONDS.toNanos(900); // parked: no look at the wheel meanwhile
        timers.schedule(now, id -> fired.add("due now"));
        timers.expireDue();
        assertEquals(List.of("due now"), fired, "fired at once, not hundreds of loop cycles later");
        now += TimeUnit.SECONDS.toNanos(10);
        timers.expireDue();
        assertEquals(List.of("due now", "keepalive"), fired);
    }

    /**
     * A lag shorter than the wheel's turn (512 ticks): the catch-up reaches the current tick's spoke only as its
     * last step, and must still look into it, or a timer due now waits for the loop's next cycle.
     */
    @Test
    void aTimerDueNowFiresAtTheFirstLookAfterAShortPark() {
        for (long lagMs : new long[] {2, 100, 400}) {
            List<String> fired = new ArrayList<>();
            timers.schedule(now + TimeUnit.SECONDS.toNanos(10), id -> { }); // the wheel is not empty
            now += TimeUnit.MILLISECONDS.toNanos(lagMs);
            timers.schedule(now, id -> fired.add("due now"));
            timers.expireDue();
            assertEquals(List.of("due now"), fired, "after " + lagMs + " ms without a look");
        }
    }

    /** An empty wheel is not looked at at all, so it lags too: the first timer due now still fires at once. */
    @Test
    void aTimerDueNowOnAWheelThatWasEmptyFiresAtTheFirstLook() {
        List<String> fired = new ArrayList<>();
        now += TimeUnit.MILLISECONDS.toNanos(30);
        timers.expireDue();
        timers.schedule(now, id -> fired.add("due now"));
        timers.expireDue();
        assertEquals(List.of("due now"), fired);
    }
}
