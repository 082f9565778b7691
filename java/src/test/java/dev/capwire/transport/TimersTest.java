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
}
