package dev.capwire.transport;

import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.NanoClock;

/**
 * One connection's keepalive, loop work only. When nothing has arrived for an interval, it sends a PING; when
 * nothing has arrived for {@code maxMissed} intervals in a row, the peer is declared dead. A stopped or wedged
 * process keeps its socket open, so the kernel alone would never tell us.
 */
final class Keepalive implements Timers.Task {
    /** What keepalive needs of its connection. */
    interface Peer {
        boolean isOpen();

        /** Best effort: a ring too full for a PING is already a backlog the peer must answer for. */
        void sendPing(long stamp);

        void declareUnresponsive(String why);
    }

    private final EventLoop loop;
    private final NanoClock clock;
    private final Peer peer;
    private long intervalNanos; // 0 while keepalive is off: nothing stamps reads then
    private int maxMissed;
    private long lastReceivedNanos;
    private long timerId = -1;

    Keepalive(EventLoop loop, Peer peer) {
        this.loop = loop;
        this.clock = loop.clock();
        this.peer = peer;
    }

    /**
     * Starts keepalive, or restarts it on new terms: a layer may set it again once it knows more. The timer
     * armed before is cancelled, since a second one would send a second PING every interval and outlive
     * {@link #stop}.
     */
    void start(long intervalMs, int maxMissed) {
        if (intervalMs <= 0 || maxMissed < 1) {
            throw new IllegalArgumentException("keepalive needs a positive interval and maxMissed >= 1");
        }
        stop();
        this.intervalNanos = TimeUnit.MILLISECONDS.toNanos(intervalMs);
        this.maxMissed = maxMissed;
        this.lastReceivedNanos = clock.nanoTime();
        schedule();
    }

    /** Something arrived. Only a running keepalive reads the clock: it is ~20 ns a read otherwise spent. */
    void onReceived() {
        if (intervalNanos != 0) {
            lastReceivedNanos = clock.nanoTime();
        }
    }

    void stop() {
        if (timerId != -1) {
            loop.timers().cancel(timerId);
            timerId = -1;
        }
    }

    private void schedule() {
        timerId = loop.timers().schedule(clock.nanoTime() + intervalNanos, this);
    }

    @Override
    public void onTimer(long firedTimerId) {
        timerId = -1;
        if (!peer.isOpen()) {
            return;
        }
        long now = clock.nanoTime();
        long silentNanos = now - lastReceivedNanos;
        if (silentNanos >= intervalNanos * maxMissed) {
            peer.declareUnresponsive("nothing received for " + TimeUnit.NANOSECONDS.toMillis(silentNanos) + " ms ("
                    + maxMissed + " keepalive intervals of " + TimeUnit.NANOSECONDS.toMillis(intervalNanos) + " ms)");
            return;
        }
        if (silentNanos >= intervalNanos) {
            peer.sendPing(now);
        }
        schedule();
    }
}
