package dev.capwire.handshake;

import java.util.Arrays;
import java.util.Random;

/**
 * The delays between reconnect attempts: a schedule of steps (by default 100 ms, 200 ms, 400 ms, 1 s, 2 s,
 * then 5 s for ever), each drawn at random from {@code [step * (1 - jitter), step]}.
 *
 * <p>The jitter matters when a server restarts: all its clients lose their connections in the same instant,
 * and without it they would come back in lock step, a Hello storm at every step. Jitter only ever shortens a
 * step, so the schedule's numbers stay upper bounds and the cap stays a cap.
 *
 * <p>Not thread-safe: one reconnecting client owns one, on its reconnect thread.
 */
public final class Backoff {
    /** The default steps in milliseconds; the last one repeats. */
    public static final long[] DEFAULT_SCHEDULE_MS = {100, 200, 400, 1000, 2000, 5000};
    /** Default jitter: each delay is between half its step and the whole step. */
    public static final double DEFAULT_JITTER = 0.5;

    private final long[] scheduleMs;
    private final double jitter;
    private final Random random;
    private int attempt;

    /**
     * @param scheduleMs the steps, each positive; the last one repeats for ever
     * @param jitter the fraction of each step that may be taken off at random, in [0, 1)
     */
    public Backoff(long[] scheduleMs, double jitter, Random random) {
        if (scheduleMs.length == 0) {
            throw new IllegalArgumentException("a backoff schedule needs at least one step");
        }
        for (long step : scheduleMs) {
            if (step <= 0) {
                throw new IllegalArgumentException("backoff steps must be positive: " + Arrays.toString(scheduleMs));
            }
        }
        if (!(jitter >= 0 && jitter < 1)) {
            throw new IllegalArgumentException("jitter must be in [0, 1): " + jitter);
        }
        this.scheduleMs = scheduleMs.clone();
        this.jitter = jitter;
        this.random = random;
    }

    public static Backoff defaults(Random random) {
        return new Backoff(DEFAULT_SCHEDULE_MS, DEFAULT_JITTER, random);
    }

    /** The delay before the next attempt; each call moves one step along the schedule. */
    public long nextDelayMs() {
        long step = scheduleMs[Math.min(attempt, scheduleMs.length - 1)];
        if (attempt < scheduleMs.length) {
            attempt++; // stop counting at the cap, so a client retrying for days cannot overflow it
        }
        long shortest = step - (long) Math.floor(step * jitter);
        return shortest + (long) (random.nextDouble() * (step - shortest + 1));
    }

    /** Back to the first step: the connection came back, so the next loss starts over. */
    public void reset() {
        attempt = 0;
    }

    /** The steps, for messages and tests. */
    public long[] scheduleMs() {
        return scheduleMs.clone();
    }
}
