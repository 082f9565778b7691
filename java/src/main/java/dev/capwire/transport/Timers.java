package dev.capwire.transport;

import java.util.concurrent.TimeUnit;
import org.agrona.DeadlineTimerWheel;
import org.agrona.collections.Long2ObjectHashMap;
import org.agrona.concurrent.NanoClock;

/**
 * An event loop's timers: Agrona's {@link DeadlineTimerWheel} (ticks of about 1 ms) plus the task each timer runs.
 * Touched only by the thread that owns the loop.
 */
final class Timers {
    /** About a millisecond: the wheel needs a power of two. */
    private static final long TICK_NANOS = 1 << 20;
    private static final int EXPIRY_LIMIT = 1024;

    /** What a timer does when it fires; it gets its own id so one object can serve many timers. */
    interface Task {
        void onTimer(long timerId);
    }

    private final NanoClock clock;
    private final DeadlineTimerWheel wheel;
    private final Long2ObjectHashMap<Task> tasks = new Long2ObjectHashMap<>();
    private final DeadlineTimerWheel.TimerHandler fire = this::fire;

    Timers(NanoClock clock) {
        this.clock = clock;
        this.wheel = new DeadlineTimerWheel(TimeUnit.NANOSECONDS, clock.nanoTime(), TICK_NANOS, 512);
    }

    long schedule(long deadlineNanos, Task task) {
        earliestScheduled = Math.min(earliestScheduled, deadlineNanos);
        long id = wheel.scheduleTimer(deadlineNanos);
        tasks.put(id, task);
        return id;
    }

    void cancel(long timerId) {
        if (tasks.remove(timerId) != null) {
            wheel.cancelTimer(timerId);
        }
    }

    /**
     * Fires the timers that are due; reads the clock only when there are timers at all. The wheel moves on by
     * one tick per {@code poll} while it holds timers, so after the loop parked (up to a second) it lags the
     * clock by as many ticks, and a timer due now would wait as many loop cycles: it is caught up here, a
     * spoke scan per tick missed. A poll scans the current tick's spoke and then moves to the next tick if that
     * one has begun, so the catch-up goes on until a poll stays in its tick: the spoke of the tick it ends in,
     * where a timer scheduled for now sits, is scanned too (stopping once the wheel reached the current tick
     * left that spoke for the next cycle).
     */
    int expireDue() {
        if (tasks.isEmpty()) {
            return 0;
        }
        long now = clock.nanoTime();
        int expired = 0;
        long tickEnd;
        do {
            tickEnd = wheel.currentTickTime();
            expired += wheel.poll(now, fire, EXPIRY_LIMIT - expired);
        } while (expired < EXPIRY_LIMIT && !tasks.isEmpty() && wheel.currentTickTime() != tickEnd);
        return expired;
    }

    /**
     * Nanoseconds until the earliest pending deadline, else -1 (nothing to wait for). A parking loop sleeps
     * this long: waking at every tick instead would cost an idle loop a thousand wake-ups a second whenever
     * any timer (a keepalive ten seconds away, say) is pending. The scan is over all timers, but only when
     * the loop is about to park.
     */
    long nanosToNext(long nowNanos) {
        if (tasks.isEmpty()) {
            return -1;
        }
        earliest = Long.MAX_VALUE;
        wheel.forEach(findEarliest);
        return Math.max(0, earliest - nowNanos);
    }

    /** The earliest deadline scheduled since {@link #resetEarliestScheduled()}: whether a parked loop must wake. */
    long earliestScheduledSinceReset() {
        return earliestScheduled;
    }

    void resetEarliestScheduled() {
        earliestScheduled = Long.MAX_VALUE;
    }

    private long earliestScheduled = Long.MAX_VALUE;
    private long earliest;
    private final DeadlineTimerWheel.TimerConsumer findEarliest = (deadline, timerId) -> {
        if (deadline < earliest) {
            earliest = deadline;
        }
    };

    private boolean fire(TimeUnit unit, long now, long timerId) {
        Task task = tasks.remove(timerId);
        if (task != null) {
            task.onTimer(timerId);
        }
        return true;
    }
}
