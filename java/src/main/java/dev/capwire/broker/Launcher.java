package dev.capwire.broker;

import dev.capwire.Configuration;
import dev.capwire.handshake.Backoff;
import java.io.IOException;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The backends a broker starts itself (activation): one process per activatable service at most, launched when a
 * client asks for the service and none is registered, stopped when it does not register in time, restarted with
 * back-off when it exits with a failure, and stopped when the broker stops.
 */
final class Launcher implements AutoCloseable {
    /** One activatable service's process, if any; guarded by the launcher. */
    private static final class Child {
        final Backoff backoff = Backoff.defaults(new SecureRandom());
        Process process;
        boolean registered;
        /** The registration that came first after the launch: the child's own (its pid may be a wrapper's). */
        Registration registration;
        ScheduledFuture<?> registrationTimer;
        ScheduledFuture<?> restart;
        /** The client connections the backend last reported (Load), -1 before its first report. */
        int load = -1;
        ScheduledFuture<?> idleTimer;
        /** Stopped for idleness: its exit is not a failure, and it is not restarted. */
        boolean idleStopping;
    }

    /** How long to wait for a backend to stop on its own (stdin closed, SIGTERM) before it is killed. */
    private static final long STOP_GRACE_MS = 2_000;

    private final Map<String, Activation> activations;
    private final Map<String, Child> children = new HashMap<>();
    private final long registrationTimeoutMs;
    private final int maxConcurrentLaunches;
    private final long idleStopMs;
    private final Events events;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(task -> {
        Thread thread = new Thread(task, "capwire-broker-launcher");
        thread.setDaemon(true);
        return thread;
    });
    private boolean closed;

    Launcher(List<Activation> activations, long registrationTimeoutMs, int maxConcurrentLaunches, Events events) {
        this(activations, registrationTimeoutMs, maxConcurrentLaunches, 0, events);
    }

    Launcher(List<Activation> activations, long registrationTimeoutMs, int maxConcurrentLaunches, long idleStopMs,
            Events events) {
        if (idleStopMs < 0) {
            throw new IllegalArgumentException("idleStopMs must be 0 (never) or more: " + idleStopMs);
        }
        if (maxConcurrentLaunches < 1) {
            throw new IllegalArgumentException("maxConcurrentLaunches must be at least 1: " + maxConcurrentLaunches);
        }
        Map<String, Activation> byService = new HashMap<>();
        for (Activation activation : activations) {
            if (byService.putIfAbsent(activation.service(), activation) != null) {
                throw new IllegalArgumentException("service '" + activation.service() + "' is activated twice");
            }
        }
        this.activations = Map.copyOf(byService);
        this.registrationTimeoutMs = registrationTimeoutMs;
        this.maxConcurrentLaunches = maxConcurrentLaunches;
        this.idleStopMs = idleStopMs;
        this.events = events;
    }

    Map<String, Activation> activations() {
        return activations;
    }

    /**
     * A checked client wants {@code service}, which no backend has registered: starts its backend unless one is
     * starting or about to restart. Returns what to tell the client.
     */
    synchronized String wanted(String service) {
        Activation activation = activations.get(service);
        Child child = children.computeIfAbsent(service, name -> new Child());
        if (closed) {
            return "the broker is stopping";
        }
        if (child.process != null && child.idleStopping) {
            return "service '" + service + "' is stopping after being idle (pid " + child.process.pid()
                    + ") and starts again once it exited";
        }
        if (child.process != null) {
            return "service '" + service + "' is starting (pid " + child.process.pid() + ")";
        }
        if (child.restart != null && !child.restart.isDone()) {
            return "service '" + service + "' exited with a failure and restarts in a moment";
        }
        int launching = launching();
        if (launching >= maxConcurrentLaunches) {
            return "service '" + service + "' is not started yet: " + launching + " backends are starting, the"
                    + " limit (" + Configuration.BROKER_MAX_CONCURRENT_LAUNCHES_PROP_NAME + ") is "
                    + maxConcurrentLaunches;
        }
        try {
            Process process = launch(activation, child);
            if (child.process != process) {
                // Gone before its exit hook was registered, and the hook then ran here, at once: say how it ended.
                return "service '" + service + "' exited with code " + process.exitValue() + " as it started (pid "
                        + process.pid() + ")" + (child.restart != null && !child.restart.isDone()
                        ? "; it restarts in a moment" : "");
            }
            return "service '" + service + "' is starting (pid " + process.pid() + ")";
        } catch (IOException | RuntimeException e) {
            return "service '" + service + "' could not be started: " + why(e);
        }
    }

    /**
     * A backend registered: for each of its services whose child is starting, the launch succeeded and this is
     * the child's registration (the first after the launch; other backends of the service may register too).
     */
    synchronized void registered(Registration registration) {
        for (String service : registration.offers.keySet()) {
            Child child = children.get(service);
            if (child != null && child.process != null && !child.registered) {
                child.registered = true;
                child.registration = registration;
                child.load = -1;
                cancel(child.registrationTimer);
            }
        }
    }

    /**
     * {@code registration}'s backend reported {@code connections} live client connections: for each service it
     * is the child of, at zero its idle period starts (if idle stop is on); otherwise any idle period ends.
     */
    synchronized void load(Registration registration, int connections) {
        for (String service : registration.offers.keySet()) {
            Child child = children.get(service);
            if (child == null || child.process == null || child.registration != registration) {
                continue;
            }
            child.load = connections;
            if (connections == 0) {
                startIdlePeriod(service, child);
            } else {
                cancel(child.idleTimer);
            }
        }
    }

    /** A client was just handed to {@code backend} for {@code service}: the child's idle period restarts. */
    synchronized void handedOff(String service, Registration backend) {
        Child child = children.get(service);
        if (child != null && child.process != null && child.registration == backend && child.load == 0) {
            startIdlePeriod(service, child);
        }
    }

    private void startIdlePeriod(String service, Child child) {
        cancel(child.idleTimer);
        if (idleStopMs > 0 && !closed) {
            Process process = child.process;
            child.idleTimer = timer.schedule(() -> idle(service, child, process), idleStopMs, TimeUnit.MILLISECONDS);
        }
    }

    private synchronized void idle(String service, Child child, Process process) {
        if (closed || child.process != process || child.load != 0 || child.idleStopping) {
            return;
        }
        child.idleStopping = true;
        events.idleStopped(service, process.pid(), idleStopMs);
        try {
            process.getOutputStream().close();
        } catch (IOException ignored) {
            // Gone already.
        }
        process.destroy();
        timer.schedule(() -> {
            if (process.isAlive()) {
                process.destroyForcibly();
            }
        }, STOP_GRACE_MS, TimeUnit.MILLISECONDS);
    }

    /** Whether {@code backend} is {@code service}'s child being stopped for idleness: no client may go to it. */
    synchronized boolean idleStopping(String service, Registration backend) {
        Child child = children.get(service);
        return child != null && child.process != null && child.idleStopping && child.registration == backend;
    }

    /** Processes started and not registered yet: launches in flight. */
    synchronized int launching() {
        return (int) children.values().stream().filter(c -> c.process != null && !c.registered).count();
    }

    /** Processes running now. */
    synchronized int running() {
        return (int) children.values().stream().filter(c -> c.process != null).count();
    }

    /** Starts {@code activation}'s process as {@code child}'s; returns it (by then it may have exited already). */
    private Process launch(Activation activation, Child child) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(activation.command());
        builder.environment().putAll(activation.environment());
        if (activation.workingDirectory() != null) {
            builder.directory(activation.workingDirectory().toFile());
        }
        builder.redirectErrorStream(true);
        builder.redirectOutput(activation.log() != null ? ProcessBuilder.Redirect.appendTo(activation.log().toFile())
                : ProcessBuilder.Redirect.DISCARD);
        // stdin stays a pipe the broker holds: it closes when the broker's process ends, however it ends.
        Process process = builder.start();
        child.process = process;
        child.registered = false;
        String service = activation.service();
        events.launched(service, process.pid());
        child.registrationTimer = timer.schedule(() -> notRegistered(service, child, process), registrationTimeoutMs,
                TimeUnit.MILLISECONDS);
        process.onExit().thenAccept(gone -> exited(service, child, gone));
        return process;
    }

    private synchronized void notRegistered(String service, Child child, Process process) {
        if (child.process == process && !child.registered) {
            events.launchFailed(service, process.pid(), "no registration within " + registrationTimeoutMs + " ms ("
                    + Configuration.BROKER_ACTIVATION_TIMEOUT_MS_PROP_NAME + "); stopping it");
            process.destroy(); // its exit then schedules the restart
        }
    }

    private synchronized void exited(String service, Child child, Process process) {
        if (child.process != process) {
            return;
        }
        child.process = null;
        child.registration = null;
        cancel(child.registrationTimer);
        cancel(child.idleTimer);
        boolean idleStop = child.idleStopping;
        child.idleStopping = false;
        child.load = -1;
        int code = process.exitValue();
        long restartInMs = -1;
        if (!closed && !idleStop && (code != 0 || !child.registered)) {
            restartInMs = child.backoff.nextDelayMs();
            child.restart = timer.schedule(() -> restart(service, child), restartInMs, TimeUnit.MILLISECONDS);
        }
        events.exited(service, process.pid(), code, restartInMs);
    }

    private synchronized void restart(String service, Child child) {
        if (closed || child.process != null) {
            return;
        }
        if (launching() >= maxConcurrentLaunches) {
            // At the limit: try again shortly, without counting it as another failure.
            child.restart = timer.schedule(() -> restart(service, child), registrationTimeoutMs / 10 + 1,
                    TimeUnit.MILLISECONDS);
            return;
        }
        try {
            launch(activations.get(service), child);
        } catch (IOException | RuntimeException e) {
            long again = child.backoff.nextDelayMs();
            events.launchFailed(service, -1, "could not be restarted: " + why(e) + "; again in " + again + " ms");
            child.restart = timer.schedule(() -> restart(service, child), again, TimeUnit.MILLISECONDS);
        }
    }

    /** An exception's message, or its class when it has none: a reason never reads "null". */
    private static String why(Exception e) {
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }

    private static void cancel(ScheduledFuture<?> future) {
        if (future != null) {
            future.cancel(false);
        }
    }

    /** Stops every child: stdin closed and SIGTERM, then SIGKILL for those still there after a grace period. */
    @Override
    public void close() {
        List<Process> running;
        synchronized (this) {
            closed = true;
            children.values().forEach(child -> cancel(child.restart));
            running = children.values().stream().map(c -> c.process).filter(p -> p != null).toList();
        }
        for (Process process : running) {
            try {
                process.getOutputStream().close();
            } catch (IOException ignored) {
                // Gone already: nothing to tell it.
            }
            process.destroy();
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(STOP_GRACE_MS);
        for (Process process : running) {
            try {
                long left = deadline - System.nanoTime();
                if (left <= 0 || !process.waitFor(left, TimeUnit.NANOSECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
        }
        timer.shutdownNow();
    }
}
