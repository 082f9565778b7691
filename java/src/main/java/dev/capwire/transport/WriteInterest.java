package dev.capwire.transport;

import java.util.concurrent.TimeUnit;

/**
 * Whether one connection waits for its socket to take bytes again, and how long it has waited. Loop work only.
 *
 * <p>The poller is asked to report writability only while the socket is full, and told to stop as soon as it has
 * drained: a level-triggered poller would otherwise report a writable socket on every pass. While the socket is
 * full the clock runs: a socket that takes nothing for {@code sendStallTimeoutMs} means a peer that has stopped
 * reading, and the connection ends rather than hold what waits for that peer forever. Every other connection on
 * the loop carries on meanwhile.
 */
final class WriteInterest {
    private final OutboundPath.Owner owner;
    private final EventLoop loop;
    private final Staging staging; // what waits, for the stall's message
    private final long stallNanos;
    private boolean wanted;
    private long blockedSinceNanos; // while wanted: when the socket last took anything
    private long stallTimer = -1;

    WriteInterest(OutboundPath.Owner owner, EventLoop loop, Staging staging, TransportOptions options) {
        this.owner = owner;
        this.loop = loop;
        this.staging = staging;
        this.stallNanos = TimeUnit.MILLISECONDS.toNanos(options.sendStallTimeoutMs());
    }

    /** Whether the socket was full at the last write, so the poller must say when it drains. */
    boolean isWanted() {
        return wanted;
    }

    /** The socket is full ({@code true}: tell us when it drains) or took everything ({@code false}). */
    void want(boolean want) {
        if (want == wanted || owner.state() == ConnectionState.CLOSED) {
            return;
        }
        wanted = want;
        if (want) {
            blockedSinceNanos = loop.clock().nanoTime();
            if (stallTimer == -1) {
                stallTimer = loop.timers().schedule(blockedSinceNanos + stallNanos, this::checkStall);
            }
        }
        owner.writeInterestChanged();
    }

    /** The socket took some bytes: a full socket's stall clock starts again. */
    void progressed() {
        if (wanted) {
            blockedSinceNanos = loop.clock().nanoTime(); // only a blocked socket's progress needs the clock
        }
    }

    /** The stall timer: a peer that has read nothing of what waits for stallNanos is not coming back for it. */
    private void checkStall(long timerId) {
        stallTimer = -1;
        if (!wanted || owner.state() == ConnectionState.CLOSED) {
            return;
        }
        long now = loop.clock().nanoTime();
        if (now - blockedSinceNanos < stallNanos) {
            stallTimer = loop.timers().schedule(blockedSinceNanos + stallNanos, this::checkStall);
            return;
        }
        owner.writeFailed(new CloseReason(CloseReason.Kind.PEER_UNRESPONSIVE, "the peer read nothing for "
                + TimeUnit.NANOSECONDS.toMillis(now - blockedSinceNanos) + " ms while " + staging.pending()
                + " bytes waited for it (capwire.sendStallTimeoutMs)"));
    }

    /** At close: the stall timer goes. */
    void release() {
        if (stallTimer != -1) {
            loop.timers().cancel(stallTimer);
            stallTimer = -1;
        }
    }
}
