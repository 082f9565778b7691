package dev.capwire.handshake;

import dev.capwire.Configuration;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.Response;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.wire.StatusCode;
import java.util.Objects;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.agrona.DirectBuffer;

/**
 * Keeps one negotiated connection to an endpoint alive: it connects, and whenever the connection is lost it
 * connects again, with {@link Backoff} between attempts, until it succeeds or the give-up time
 * ({@code capwire.reconnect.giveUpMs}) has passed since the loss.
 *
 * <p>Calls go to the connection of the moment. While there is none they fail at once with UNAVAILABLE saying
 * why (rather than wait, so a caller can decide for itself whether to wait, queue or fail). A request in flight
 * when its connection dies fails UNAVAILABLE and is never sent again: only the caller knows whether a request
 * is safe to repeat.
 *
 * <p>Attempts run on a thread of the client's own, {@code capwire-reconnect-N}, never on an event loop: an
 * attempt blocks for the handshake, which needs the loop to run. Listener callbacks run on that thread too.
 *
 * <pre>{@code
 * try (ReconnectingClient echo = ReconnectingClient.builder(transport, endpoint,
 *         ClientOptions.builder("echo").build(), frameListener).listener(events).build()) {
 *     echo.awaitConnected(5000);
 *     Response reply = echo.call(2, 1, payload, 0, length, 1000);
 * }
 * }</pre>
 */
public final class ReconnectingClient implements AutoCloseable {
    private static final AtomicInteger THREADS = new AtomicInteger();

    /**
     * What happens to the connection; called on the reconnect thread, one call at a time. A callback that
     * throws (an Error included) is reported to the transport's error handler ({@code TransportOptions.errorHandler()}), and the
     * client carries on as if it had returned.
     */
    public interface Listener {
        /** A connection was negotiated, the first or a new one after a loss. */
        default void connected(NegotiatedConnection connection) {
        }

        /** The connection was lost (not by {@link #close()}); reconnecting starts now. */
        default void disconnected(CloseReason reason) {
        }

        /** An attempt failed; the next one comes in {@code retryInMs} unless the client gives up first. */
        default void attemptFailed(Exception error, long retryInMs) {
        }

        /** No more attempts: UNAVAILABLE, with the last error as its cause. Calls fail with it from now on. */
        default void gaveUp(StatusException cause) {
        }
    }

    private final Transport transport;
    private final Endpoint endpoint;
    private final ClientOptions options;
    private final FrameListener frameListener;
    private final Listener listener;
    private final long giveUpMs;
    private final Backoff backoff;
    private final String reconnectThreadName;
    private final ScheduledThreadPoolExecutor reconnectThread;

    // Guards current, closed and gaveUp together, so a connection made as close() runs is never left open.
    private final Object lock = new Object();
    private NegotiatedConnection current;
    private boolean closed;
    private StatusException gaveUp;

    /** Why calls fail right now; read by callers, written on the reconnect thread. */
    private volatile String notConnectedWhy;

    // Reconnect thread only.
    private int attemptsSinceLoss;
    /** The backend address to try once next, after a hand-off failed before its takeover (reconnect thread only). */
    private Endpoint fallbackOnce;
    private long lostAtNanos;
    private long giveUpAtNanos;

    private ReconnectingClient(Builder b) {
        this.transport = b.transport;
        this.endpoint = b.endpoint;
        this.options = b.options;
        this.frameListener = b.frameListener;
        this.listener = b.listener;
        this.giveUpMs = b.giveUpMs;
        this.backoff = new Backoff(b.backoffScheduleMs, b.jitter, b.random);
        this.reconnectThreadName = "capwire-reconnect-" + THREADS.incrementAndGet();
        this.reconnectThread = new ScheduledThreadPoolExecutor(1, task -> {
            Thread thread = new Thread(task, reconnectThreadName);
            thread.setDaemon(true); // an application that forgets close() must still be able to exit
            return thread;
        });
        reconnectThread.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        reconnectThread.setRemoveOnCancelPolicy(true);
        this.notConnectedWhy = "the first connection to " + endpoint + " is not made yet";
        lostAtNanos = System.nanoTime();
        giveUpAtNanos = lostAtNanos + TimeUnit.MILLISECONDS.toNanos(giveUpMs);
        onReconnectThread(this::attempt);
    }

    /**
     * A client for {@code endpoint}; each connection is made with {@code options}, and frames the server sends
     * (requests, notifies) go to {@code frameListener}, on the event loop as usual.
     */
    public static Builder builder(Transport transport, Endpoint endpoint, ClientOptions options,
            FrameListener frameListener) {
        return new Builder(transport, endpoint, options, frameListener);
    }

    public Endpoint endpoint() {
        return endpoint;
    }

    /** The live connection, or null while there is none. */
    public NegotiatedConnection current() {
        synchronized (lock) {
            return current;
        }
    }

    /**
     * Waits until a connection is up and returns it.
     *
     * @throws StatusException UNAVAILABLE when the client gave up or was closed, DEADLINE_EXCEEDED when no
     *     connection came within {@code timeoutMs}, CANCELLED when interrupted
     */
    public NegotiatedConnection awaitConnected(long timeoutMs) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        synchronized (lock) {
            for (;;) {
                if (current != null) {
                    return current;
                }
                if (closed || gaveUp != null) {
                    throw notConnected();
                }
                long leftNanos = deadline - System.nanoTime();
                if (leftNanos <= 0) {
                    throw new StatusException(StatusCode.DEADLINE_EXCEEDED, "no connection to " + endpoint
                            + " within " + timeoutMs + " ms: " + notConnectedWhy);
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(lock, leftNanos);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new StatusException(StatusCode.CANCELLED, "interrupted waiting for a connection to "
                            + endpoint);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Calls: the connection's own methods, on the connection of the moment
    // ---------------------------------------------------------------------------------------------------

    /** {@link dev.capwire.transport.Connection#request(int, int, DirectBuffer, int, int, FileDescriptor...)}. */
    public CompletableFuture<Response> request(int capId, int methodId, DirectBuffer payload, int offset,
            int length, FileDescriptor... fds) {
        NegotiatedConnection connection = current();
        return connection == null ? CompletableFuture.failedFuture(notConnected())
                : connection.connection().request(capId, methodId, payload, offset, length, fds);
    }

    /**
     * {@link dev.capwire.transport.Connection#request(int, int, DirectBuffer, int, int, long, FileDescriptor...)};
     * fails UNAVAILABLE at once while there is no connection.
     */
    public CompletableFuture<Response> request(int capId, int methodId, DirectBuffer payload, int offset,
            int length, long timeoutMs, FileDescriptor... fds) {
        NegotiatedConnection connection = current();
        return connection == null ? CompletableFuture.failedFuture(notConnected())
                : connection.connection().request(capId, methodId, payload, offset, length, timeoutMs, fds);
    }

    /** {@link dev.capwire.transport.Connection#call}; throws UNAVAILABLE at once while there is no connection. */
    public Response call(int capId, int methodId, DirectBuffer payload, int offset, int length, long timeoutMs,
            FileDescriptor... fds) {
        NegotiatedConnection connection = current();
        if (connection == null) {
            throw notConnected();
        }
        return connection.connection().call(capId, methodId, payload, offset, length, timeoutMs, fds);
    }

    /** {@link dev.capwire.transport.Connection#sendNotify}; throws UNAVAILABLE at once while there is no connection. */
    public void sendNotify(int capId, int methodId, DirectBuffer payload, int offset, int length, long timeoutMs) {
        NegotiatedConnection connection = current();
        if (connection == null) {
            throw notConnected();
        }
        connection.connection().sendNotify(capId, methodId, payload, offset, length, timeoutMs);
    }

    private StatusException notConnected() {
        synchronized (lock) {
            if (gaveUp != null) {
                // notConnectedWhy, not gaveUp.getMessage(): that already starts with the code this one prepends.
                return new StatusException(StatusCode.UNAVAILABLE, notConnectedWhy, gaveUp.getCause());
            }
            if (closed) {
                return new StatusException(StatusCode.UNAVAILABLE, "the reconnecting client for " + endpoint
                        + " is closed");
            }
        }
        return new StatusException(StatusCode.UNAVAILABLE, "not connected: " + notConnectedWhy);
    }

    // ---------------------------------------------------------------------------------------------------
    // Reconnecting (reconnect thread)
    // ---------------------------------------------------------------------------------------------------

    private void attempt() {
        if (isClosed()) {
            return;
        }
        attemptsSinceLoss++;
        NegotiatedConnection connection;
        Endpoint backend = fallbackOnce;
        fallbackOnce = null;
        try {
            connection = backend != null ? HandshakeClient.connectToBackend(transport, backend, options, frameListener)
                    : HandshakeClient.connect(transport, endpoint, options, frameListener);
        } catch (HandshakeRefusedException e) {
            if (!e.isRetryable()) {
                giveUp(e, "the server refused, and retrying will not change its answer");
            } else {
                retryLater(e, e.retryAfterMs());
            }
            return;
        } catch (StatusException | NativeIoException e) {
            retryLater(e, 0);
            return;
        } catch (RuntimeException e) {
            // A closed transport, say: left uncaught it would vanish into the executor, and the client would
            // report "reconnecting" for ever.
            giveUp(e, "connecting failed in a way retrying cannot fix");
            return;
        }
        synchronized (lock) {
            if (!closed) {
                current = connection;
                lock.notifyAll();
            }
        }
        if (current() != connection) {
            connection.close(); // close() ran meanwhile and found nothing to close
            return;
        }
        backoff.reset();
        attemptsSinceLoss = 0;
        notConnectedWhy = null;
        notify("connected", () -> listener.connected(connection));
        // The close future completes on the event loop; the loss is handled here, after this task.
        connection.connection().closeFuture().whenComplete((reason, error) ->
                onReconnectThread(() -> onConnectionClosed(connection, reason)));
    }

    private void onConnectionClosed(NegotiatedConnection connection, CloseReason reason) {
        synchronized (lock) {
            if (closed || current != connection) {
                return;
            }
            current = null;
        }
        String fallback = connection.fallbackAfterFailedTakeover();
        if (fallback != null) {
            // Calls before takeover: the broker abandoned this hand-off after connect returned, where a waiting
            // connect would have gone to the backend's own address itself. The next attempt goes there.
            try {
                fallbackOnce = Endpoint.parse(fallback);
            } catch (RuntimeException e) {
                fallbackOnce = null; // not an address: back to the broker
            }
        }
        lostAtNanos = System.nanoTime();
        giveUpAtNanos = lostAtNanos + TimeUnit.MILLISECONDS.toNanos(giveUpMs);
        notConnectedWhy = "the connection to " + endpoint + " was lost (" + reason + "); reconnecting";
        notify("disconnected", () -> listener.disconnected(reason));
        // The peer is probably still restarting: wait one step before the first attempt.
        schedule(backoff.nextDelayMs());
    }

    private void retryLater(Exception error, long serverAskedMs) {
        if (isClosed()) {
            return; // the attempt failed because close() interrupted it
        }
        long now = System.nanoTime();
        long leftMs = TimeUnit.NANOSECONDS.toMillis(giveUpAtNanos - now);
        if (leftMs <= 0) {
            giveUp(error, "no connection for " + TimeUnit.NANOSECONDS.toMillis(now - lostAtNanos)
                    + " ms, past the give-up time of " + giveUpMs + " ms");
            return;
        }
        if (serverAskedMs > leftMs) {
            giveUp(error, "the server asked for " + serverAskedMs + " ms, more than the " + leftMs
                    + " ms left before giving up");
            return;
        }
        // One last attempt right at the give-up time, rather than giving up early.
        long delayMs = Math.min(Math.max(backoff.nextDelayMs(), serverAskedMs), leftMs);
        notConnectedWhy = "attempt " + attemptsSinceLoss + " to connect to " + endpoint + " failed ("
                + error.getMessage() + "); next attempt in " + delayMs + " ms";
        notify("attemptFailed", () -> listener.attemptFailed(error, delayMs));
        schedule(delayMs);
    }

    private void giveUp(Exception lastError, String why) {
        String gaveUpWhy = "gave up connecting to " + endpoint + " after " + attemptsSinceLoss + " attempt(s): " + why
                + "; last error: " + lastError.getMessage();
        StatusException cause = new StatusException(StatusCode.UNAVAILABLE, gaveUpWhy, lastError);
        synchronized (lock) {
            if (closed) {
                return;
            }
            // Before gaveUp: whoever sees gaveUp under the lock reads this reason for its own exception.
            notConnectedWhy = gaveUpWhy;
            gaveUp = cause;
            lock.notifyAll();
        }
        reconnectThread.shutdown(); // the thread ends once this task returns
        notify("gaveUp", () -> listener.gaveUp(cause));
    }

    private void schedule(long delayMs) {
        try {
            reconnectThread.schedule(this::attempt, delayMs, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // Closed meanwhile: nothing more to do.
        }
    }

    private void onReconnectThread(Runnable task) {
        try {
            reconnectThread.execute(task);
        } catch (RejectedExecutionException e) {
            // Closed or given up: nothing more to do.
        }
    }

    /**
     * A listener that throws must not stop the reconnecting: its failure goes to the transport's error handler,
     * naming the listener and the {@code callback} that threw.
     */
    private void notify(String callback, Runnable call) {
        try {
            call.run();
        } catch (RuntimeException | Error e) {
            // An Error too (a listener's failed assertion, say): escaping connected(), it would end the attempt
            // before it watches the connection's close, and a loss would never be noticed nor reconnected.
            ListenerFailure.report(transport, "ReconnectingClient.Listener " + listener.getClass().getName() + "."
                    + callback + " for " + endpoint, e, "the reconnecting client carries on");
        }
    }

    private boolean isClosed() {
        synchronized (lock) {
            return closed;
        }
    }

    /**
     * Stops reconnecting, closes the connection (requests in flight fail UNAVAILABLE) and ends the reconnect
     * thread, waiting for an attempt in progress to end. Idempotent. Do not call it from an event-loop callback:
     * an attempt in progress needs the loop to finish.
     */
    @Override
    public void close() {
        NegotiatedConnection connection;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            connection = current;
            current = null;
            lock.notifyAll();
        }
        boolean fromListener = Thread.currentThread().getName().equals(reconnectThreadName);
        if (fromListener) {
            reconnectThread.shutdown(); // no attempt can be in progress; do not interrupt the caller itself
        } else {
            reconnectThread.shutdownNow(); // interrupts an attempt waiting for its handshake
        }
        if (connection != null) {
            connection.close();
        }
        if (!fromListener) {
            try {
                reconnectThread.awaitTermination(options.handshakeTimeoutMs()
                        + transport.options().connectTimeoutMs() + 1000, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public String toString() {
        NegotiatedConnection connection = current();
        return "reconnecting client for " + endpoint + (connection != null ? ": " + connection
                : ": not connected (" + notConnectedWhy + ")");
    }

    public static final class Builder {
        private final Transport transport;
        private final Endpoint endpoint;
        private final ClientOptions options;
        private final FrameListener frameListener;
        private Listener listener = new Listener() { };
        private long giveUpMs = Configuration.reconnectGiveUpMs();
        private long[] backoffScheduleMs = Backoff.DEFAULT_SCHEDULE_MS;
        private double jitter = Backoff.DEFAULT_JITTER;
        private Random random = new Random();

        private Builder(Transport transport, Endpoint endpoint, ClientOptions options, FrameListener frameListener) {
            this.transport = Objects.requireNonNull(transport, "transport");
            this.endpoint = Objects.requireNonNull(endpoint, "endpoint");
            this.options = Objects.requireNonNull(options, "options");
            this.frameListener = Objects.requireNonNull(frameListener, "frameListener");
        }

        public Builder listener(Listener value) {
            listener = Objects.requireNonNull(value, "listener");
            return this;
        }

        /** How long to keep trying after a loss (or from the start) before giving up; default capwire.reconnect.giveUpMs. */
        public Builder giveUpAfterMs(long value) {
            if (value <= 0) {
                throw new IllegalArgumentException("giveUpAfterMs must be positive: " + value);
            }
            giveUpMs = value;
            return this;
        }

        /** The backoff steps in milliseconds (the last repeats) and the jitter fraction; see {@link Backoff}. */
        public Builder backoff(long[] scheduleMs, double jitterFraction) {
            new Backoff(scheduleMs, jitterFraction, random); // checks the arguments now, not on the reconnect thread
            backoffScheduleMs = scheduleMs.clone();
            jitter = jitterFraction;
            return this;
        }

        /** Starts connecting at once, in the background; see {@link ReconnectingClient#awaitConnected}. */
        public ReconnectingClient build() {
            return new ReconnectingClient(this);
        }
    }
}
