package dev.capwire.transport;

import dev.capwire.Configuration;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import java.lang.reflect.Method;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link FrameListener} that runs another listener's {@code onFrame} on an {@link Executor}, so a handler may
 * block (sleep, wait for a lock, make a blocking {@link Connection#call} to another server) without stalling
 * the other connections of its event loop. Made by {@link FrameListener#onExecutor} or {@link #builder}.
 *
 * <h2>What runs where</h2>
 * <ul>
 * <li>{@code onOpen} runs on the loop, as before: it comes before any frame anyway, and it is where the
 * loop-work-only setup ({@link Connection#shutGate}, {@link Connection#startKeepalive}) must happen.</li>
 * <li>{@code onFrame} runs on the executor, <b>one frame at a time per connection, in the order received</b>
 * (what most handlers assume: a NOTIFY that says "reset" is not overtaken by the one after it). Frames of
 * different connections run in parallel, up to the executor's threads. A connection that has frames keeps
 * an executor thread for at most {@value #BATCH} frames before it queues itself behind the others.</li>
 * <li>{@code onClose} runs on the executor too, after every frame of the connection: it is the handler's
 * last call, so it may release what those frames used.</li>
 * <li>Frames the {@linkplain Builder#staysOnLoop placement} keeps on the loop are handed to the listener
 * right there, as the loop's reused view, allocating nothing. They are not ordered with the frames that
 * left. A layer that must interrupt running work keeps CANCEL on the loop this way and signals the worker
 * itself; queued in order, a CANCEL would reach the handler only after the request it cancels.</li>
 * </ul>
 *
 * <h2>The frame off the loop</h2>
 * The handler gets an {@link InboundFrame} under the same contract as on the loop: valid during the call,
 * its fds the handler's once it calls {@link InboundFrame#takeFds()}, and those it does not take closed when
 * the call returns. Behind it is a private copy (payload on the heap, the fds moved out of the loop's view):
 * leaving the loop costs a copy, staying on it costs nothing.
 *
 * <h2>Bounds</h2>
 * Frames queued or running are bounded per connection ({@link Configuration#HANDLER_QUEUE_FRAMES_PER_CONNECTION_PROP_NAME})
 * and per listener ({@link Configuration#HANDLER_QUEUE_FRAMES_PROP_NAME}). Past either bound the loop answers
 * a REQUEST RESOURCE_EXHAUSTED at once and drops a NOTIFY or CANCEL ({@link #dropped()}); the first of each
 * overload of a connection is reported to the transport's error handler. The loop never waits for the
 * executor. An executor that refuses work ({@link RejectedExecutionException}: shut down, or a bounded queue
 * of its own full) is treated the same way, and the connection's {@code onClose} then runs on the refused
 * thread, so it still comes exactly once.
 *
 * <h2>Failures</h2>
 * A handler that throws is treated as on the loop, by the connection's {@link ListenerGuard}: reported to the
 * transport's error handler, a REQUEST answered INTERNAL (described only with
 * {@code capwire.exposeHandlerErrors}), an {@link Error} closes the connection.
 *
 * <p>Frames still queued when their connection closes are delivered all the same, then onClose: a peer that
 * sends NOTIFYs and closes gracefully expects them handled, as a socket delivers what was sent before its
 * end. Replies to them fail ({@link Connection#respond} throws UNAVAILABLE); such a failure, on a connection
 * no longer open, is not reported as the handler's.
 */
public final class OffLoopListener implements FrameListener {
    /** Frames one connection handles in a row before it lets other connections have the thread. */
    static final int BATCH = 64;

    /** Whether a frame is handled on the loop instead (called on the loop, with the loop's view). */
    @FunctionalInterface
    public interface Placement {
        boolean staysOnLoop(InboundFrame frame);
    }

    private final FrameListener handler;
    private final Executor executor;
    private final Placement placement;
    private final int maxFrames;
    private final int maxFramesPerConnection;
    /** Frames queued or running, across connections; reserved by CAS so the bound holds across loops. */
    private final AtomicInteger frames = new AtomicInteger();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private final ConcurrentHashMap<Connection, Lane> lanes = new ConcurrentHashMap<>();

    private OffLoopListener(Builder b) {
        this.handler = b.handler;
        this.executor = b.executor != null ? b.executor : defaultExecutor();
        this.placement = b.placement;
        this.maxFrames = b.maxFrames;
        this.maxFramesPerConnection = b.maxFramesPerConnection;
    }

    /** Runs {@code handler}'s frames off the loop; the rest is set on the builder or read from the properties. */
    public static Builder builder(FrameListener handler) {
        return new Builder(handler);
    }

    /**
     * The executor used when none is given, shared by every such listener in the JVM: a virtual thread per busy
     * connection on Java 21+ (handlers that block then cost no platform thread, and Capwire's own waits park
     * in Java, see docs/architecture.md), else a pool of daemon threads, 4 per core (at least 8) since
     * handlers sent off the loop are the ones expected to block; {@code capwire.handlerThreads} forces a pool
     * of that size. Its queue is unbounded on purpose: it holds at most one task per connection that has
     * frames; the frames themselves are bounded by this class.
     */
    public static Executor defaultExecutor() {
        return DefaultExecutor.INSTANCE;
    }

    /** NOTIFY and CANCEL frames dropped so far: over a bound, or refused by the executor. */
    public long dropped() {
        return dropped.get();
    }

    /** REQUESTs answered RESOURCE_EXHAUSTED so far instead of being handled. */
    public long refused() {
        return refused.get();
    }

    /** Frames queued or being handled right now, across connections. */
    public int queued() {
        return frames.get();
    }

    @Override
    public void onOpen(Connection connection) {
        handler.onOpen(connection);
    }

    @Override
    public void onFrame(Connection connection, InboundFrame frame) {
        if (placement != null && placement.staysOnLoop(frame)) {
            handler.onFrame(connection, frame);
            return;
        }
        Lane lane = lane(connection);
        if (lane.pending.get() >= maxFramesPerConnection) {
            overflow(lane, frame, maxFramesPerConnection + " frames already wait for the handlers of " + connection
                    + " (" + Configuration.HANDLER_QUEUE_FRAMES_PER_CONNECTION_PROP_NAME + ")");
            return;
        }
        if (!reserve()) {
            overflow(lane, frame, maxFrames + " frames already wait for this server's handlers ("
                    + Configuration.HANDLER_QUEUE_FRAMES_PROP_NAME + ")");
            return;
        }
        lane.overloaded = false;
        lane.enqueue(frame.detach());
    }

    @Override
    public void onClose(Connection connection, CloseReason reason) {
        Lane lane = lanes.remove(connection);
        if (lane == null) {
            lane = new Lane(connection); // no frame ever left the loop: onClose still takes the same way
        }
        lane.enqueue(new Closed(reason));
    }

    private Lane lane(Connection connection) {
        Lane lane = lanes.get(connection);
        return lane != null ? lane : lanes.computeIfAbsent(connection, Lane::new);
    }

    private boolean reserve() {
        for (;;) {
            int now = frames.get();
            if (now >= maxFrames) {
                return false;
            }
            if (frames.compareAndSet(now, now + 1)) {
                return true;
            }
        }
    }

    /** Loop: a frame over a bound. The view's fds stay with the loop, which closes them after this call. */
    private void overflow(Lane lane, InboundFrame frame, String why) {
        ListenerGuard guard = lane.connection.guard();
        if (frame.type() == FrameType.REQUEST) {
            refused.incrementAndGet();
            guard.replyError(lane.connection, frame.correlationId(), StatusCode.RESOURCE_EXHAUSTED, "handler.queue", why);
        } else {
            dropped.incrementAndGet();
        }
        if (!lane.overloaded) {
            lane.overloaded = true; // report an overload once, not once per frame: a flood would flood the log too
            guard.reportError(new StatusException(StatusCode.RESOURCE_EXHAUSTED, why
                    + ": refusing REQUESTs and dropping NOTIFY and CANCEL until the handlers catch up"));
        }
    }

    /** A connection's end, queued behind its frames. */
    private static final class Closed {
        final CloseReason reason;

        Closed(CloseReason reason) {
            this.reason = reason;
        }
    }

    /**
     * One connection's frames in order, run one at a time. {@code pending} counts what is queued or running
     * and doubles as the run token: whoever raises it from 0 submits the lane, and the lane's run keeps it
     * above 0 until it has handled everything (or submits itself again), so at most one run is ever active.
     */
    private final class Lane implements Runnable {
        final Connection connection;
        final ConcurrentLinkedQueue<Object> items = new ConcurrentLinkedQueue<>();
        final AtomicInteger pending = new AtomicInteger();
        /** Loop work only (overflows happen in onFrame): whether this overload was reported already. */
        boolean overloaded;

        Lane(Connection connection) {
            this.connection = connection;
        }

        void enqueue(Object item) {
            items.offer(item);
            if (pending.getAndIncrement() == 0) {
                submit();
            }
        }

        private void submit() {
            try {
                executor.execute(this);
            } catch (RejectedExecutionException e) {
                connection.guard().reportError(new StatusException(StatusCode.RESOURCE_EXHAUSTED,
                        "the handler executor refused the frames of " + connection, e));
                int left;
                do {
                    refuse(items.poll());
                    left = pending.decrementAndGet();
                } while (left > 0);
            }
        }

        @Override
        public void run() {
            int handled = 0;
            int left;
            do {
                deliver(items.poll());
                left = pending.decrementAndGet();
            } while (left > 0 && ++handled < BATCH);
            if (left > 0) {
                submit(); // still holding the token: let other connections' lanes have the thread meanwhile
            }
        }

        private void deliver(Object item) {
            if (item instanceof Closed) {
                try {
                    handler.onClose(connection, ((Closed) item).reason);
                } catch (RuntimeException | Error e) {
                    connection.guard().reportFailure(connection, "onClose (off the loop)", e);
                }
                return;
            }
            InboundFrame frame = (InboundFrame) item;
            try {
                handler.onFrame(connection, frame);
            } catch (StatusException e) {
                if (e.code() != StatusCode.UNAVAILABLE || connection.isOpen()) {
                    connection.guard().onFrameFailedOffLoop(connection, frame.type(), frame.correlationId(), e);
                }
                // else the connection closed under the handler (its reply had nowhere to go): no handler bug
            } catch (RuntimeException | Error e) {
                connection.guard().onFrameFailedOffLoop(connection, frame.type(), frame.correlationId(), e);
            } finally {
                frame.closeUntakenFds();
                frames.decrementAndGet();
            }
        }

        /** The executor would not take the lane: answer or drop what it holds, and still end with onClose. */
        private void refuse(Object item) {
            if (item instanceof Closed) {
                deliver(item);
                return;
            }
            InboundFrame frame = (InboundFrame) item;
            try {
                if (frame.type() == FrameType.REQUEST) {
                    refused.incrementAndGet();
                    connection.guard().replyError(connection, frame.correlationId(), StatusCode.RESOURCE_EXHAUSTED,
                            "handler.executor", "the server's handler executor refused the request");
                } else {
                    dropped.incrementAndGet();
                }
            } finally {
                frame.closeUntakenFds();
                frames.decrementAndGet();
            }
        }
    }

    /** Settings of an {@link OffLoopListener}; each starts at its system property. */
    public static final class Builder {
        private final FrameListener handler;
        private Executor executor;
        private Placement placement;
        private int maxFrames = Configuration.handlerQueueFrames();
        private int maxFramesPerConnection = Configuration.handlerQueueFramesPerConnection();

        private Builder(FrameListener handler) {
            this.handler = Objects.requireNonNull(handler, "handler");
        }

        /** Where handlers run; {@link #defaultExecutor()} when not set. The listener never shuts it down. */
        public Builder executor(Executor value) {
            executor = Objects.requireNonNull(value, "executor");
            return this;
        }

        /**
         * Frames for which this says true are handled on the loop, at once: for handlers declared non-blocking
         * (an RPC method marked so, a CANCEL that only flags a worker). It runs on the loop for every frame, so
         * it must be cheap and never block.
         */
        public Builder staysOnLoop(Placement value) {
            placement = Objects.requireNonNull(value, "placement");
            return this;
        }

        /** See {@link Configuration#HANDLER_QUEUE_FRAMES_PROP_NAME}. */
        public Builder maxQueuedFrames(int value) {
            maxFrames = value;
            return this;
        }

        /** See {@link Configuration#HANDLER_QUEUE_FRAMES_PER_CONNECTION_PROP_NAME}. */
        public Builder maxQueuedFramesPerConnection(int value) {
            maxFramesPerConnection = value;
            return this;
        }

        public OffLoopListener build() {
            if (maxFrames < 1 || maxFramesPerConnection < 1) {
                throw new IllegalArgumentException("handler queue bounds must be at least 1: " + maxFrames + ", "
                        + maxFramesPerConnection);
            }
            return new OffLoopListener(this);
        }
    }

    /** Made on first use only, so a JVM that never leaves the loop starts no threads. */
    private static final class DefaultExecutor {
        static final Executor INSTANCE = create();

        private static Executor create() {
            int threads = Configuration.handlerThreads();
            if (threads <= 0) {
                Executor virtual = virtualThreads();
                if (virtual != null) {
                    return virtual;
                }
                threads = Math.max(8, 4 * Runtime.getRuntime().availableProcessors());
            }
            AtomicInteger number = new AtomicInteger();
            ThreadFactory factory = task -> {
                Thread thread = new Thread(task, "capwire-handler-" + number.incrementAndGet());
                thread.setDaemon(true); // like the loops: handlers never keep a JVM alive on their own
                return thread;
            };
            ThreadPoolExecutor pool = new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS,
                    new LinkedBlockingQueue<>(), factory);
            pool.allowCoreThreadTimeOut(true); // an idle server holds no threads
            return pool;
        }

        /**
         * Java 21+'s {@code Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name(...).factory())}, found by
         * reflection since Capwire is compiled for 17; null on a JVM without virtual threads.
         */
        private static Executor virtualThreads() {
            try {
                Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
                Class<?> builderType = Class.forName("java.lang.Thread$Builder");
                builder = builderType.getMethod("name", String.class, long.class).invoke(builder, "capwire-handler-", 1L);
                ThreadFactory factory = (ThreadFactory) builderType.getMethod("factory").invoke(builder);
                Method perTask = java.util.concurrent.Executors.class.getMethod("newThreadPerTaskExecutor",
                        ThreadFactory.class);
                return (Executor) perTask.invoke(null, factory);
            } catch (ReflectiveOperationException | RuntimeException e) {
                return null; // Java 17-20 (or preview-only virtual threads): the platform pool instead
            }
        }
    }
}
