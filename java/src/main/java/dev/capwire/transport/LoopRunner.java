package dev.capwire.transport;

import org.agrona.concurrent.IdleStrategy;

/**
 * Drives an {@link EventLoop} on a thread of its own, as Agrona's {@code AgentRunner} drives an agent: duty
 * cycles while there is work, the idle strategy while there is none, and after {@code parkAfterIdleMicros} of
 * idleness a park in the poller's wait. The other way to drive a loop is invoker mode ({@code eventLoops = 0}):
 * no runner, and the application calls {@link Transport#poll()} (or a blocking call runs the loop while it
 * waits), as with Agrona's {@code AgentInvoker}.
 *
 * <p>The thread owns the loop during a duty cycle and lets go while it idles or parks, so that an application
 * thread that finds the loop idle can run its task itself (see {@link EventLoop#execute}).
 */
final class LoopRunner {
    private final EventLoop loop;

    LoopRunner(EventLoop loop) {
        this.loop = loop;
    }

    /** Starts the loop's thread and returns it. */
    Thread start() {
        Thread thread = new EventLoop.LoopThread(this::run, loop.roleName());
        thread.start();
        return thread;
    }

    private void run() {
        IdleStrategy idleStrategy = loop.idleStrategy();
        LoopOwnership ownership = loop.ownership();
        long idleSince = 0;
        ownership.acquire(idleStrategy);
        try {
            while (loop.isRunning()) {
                if (loop.guardedDutyCycle() > 0) {
                    idleStrategy.reset();
                    idleSince = 0;
                    continue;
                }
                if (!loop.parks()) {
                    idleStrategy.idle(); // a spinning loop never parks, so it has no idle time to measure
                    continue;
                }
                long now = loop.clock().nanoTime();
                if (idleSince == 0) {
                    idleSince = now;
                }
                if (now - idleSince >= loop.parkAfterIdleNanos()) {
                    loop.park(now);
                    idleStrategy.reset();
                    idleSince = 0;
                } else {
                    ownership.release(); // idle: a caller may run its task meanwhile
                    idleStrategy.idle();
                    ownership.acquire(idleStrategy);
                }
            }
        } finally {
            loop.stopped();
        }
    }
}
