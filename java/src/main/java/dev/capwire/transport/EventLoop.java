package dev.capwire.transport;

import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.Poller;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.agrona.BufferUtil;
import org.agrona.collections.Long2ObjectHashMap;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.ManyToOneConcurrentArrayQueue;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One event-loop thread serving many connections, as an Agrona {@link Agent}. Its duty cycle: run queued
 * tasks, flush the outbound rings of connections that have frames waiting, poll readiness without blocking
 * and read what is ready, flush again (what the reads produced), fire due timers. With nothing to do it idles under its {@link IdleStrategy}, and
 * after {@code parkAfterIdleNanos} of idleness it parks in the poller's wait.
 *
 * <p>Waking a parked loop costs a syscall, so producers only do it when the loop is actually parked: a
 * producer publishes its work (a queue offer, which is a full fence) and then reads {@link #parked}; the
 * loop sets {@link #parked} and then re-checks its queues before it waits. One of the two always sees the
 * other, so no wake-up is lost and a busy loop is never woken.
 */
public final class EventLoop implements Agent, AutoCloseable {
    /** Poller tokens: the low bits say what kind of channel the token names. */
    static final long KIND_MASK = 0x3;
    static final long KIND_CONNECTION = 0x1;
    static final long KIND_LISTENER = 0x2;

    private static final int POLL_BATCH = 256;
    private static final int FLUSH_BATCH = 1024;
    /**
     * A loop that never parks (spin) and serves at most this many connections reads them directly each duty
     * cycle instead of asking the poller first: one system call per connection instead of epoll_wait plus the
     * read, which is most of a busy-polled round trip. Aeron's media driver polls its transports the same way
     * below a threshold. Such connections are not even registered with the poller: a registered socket makes
     * every write into it run the poller's callback too, about 0.1 us per side of a round trip on our hosts.
     * Once a loop has more connections than this, all of its connections go through the poller.
     */
    static final int BUSY_POLL_MAX_CONNECTIONS = 4;
    /** A busy-polling loop still asks the poller every this many cycles: for accepts and writability. */
    private static final int POLLER_EVERY_CYCLES = 64;

    private final String name;
    private final Poller poller;
    private final IdleStrategy idleStrategy;
    private final boolean parks;
    private final long parkAfterIdleNanos;
    private final Long2ObjectHashMap<Channel> channels = new Long2ObjectHashMap<>();
    private final java.util.ArrayList<Connection> connections = new java.util.ArrayList<>();
    private final boolean busyPoll;
    /** Whether connection fds are registered with the poller; a busy-polling loop starts without, see above. */
    private boolean pollingConnections;
    private int cycle;
    private final ManyToOneConcurrentArrayQueue<Connection> flushQueue = new ManyToOneConcurrentArrayQueue<>(64 * 1024);
    /** Connections the loop itself staged frames into; only this thread touches it. */
    private final java.util.ArrayList<Connection> stagedFlushes = new java.util.ArrayList<>();
    private final ManyToOneConcurrentArrayQueue<Runnable> tasks = new ManyToOneConcurrentArrayQueue<>(64 * 1024);
    private final Timers timers = new Timers();
    /** Where a connection's recvmsg puts the fds that arrive; every read is on this thread, so one suffices. */
    private final UnsafeBuffer fdScratch = new UnsafeBuffer(
            BufferUtil.allocateDirectAligned((Native.MAX_FDS_PER_MESSAGE + 2) * 4, 64));
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final Thread thread;
    private final boolean invoker;
    private volatile boolean parked;
    private volatile boolean running = true;
    private long nextToken;

    /**
     * @param ownThread false for invoker mode: no thread is started, and the creating thread is the loop
     *                  thread, running duty cycles whenever it calls {@link #doWork()}
     */
    EventLoop(String name, String idleStrategyName, long parkAfterIdleMicros, boolean ownThread)
            throws NativeIoException {
        this.name = name;
        this.poller = new Poller(POLL_BATCH);
        this.idleStrategy = dev.capwire.Configuration.idleStrategy(idleStrategyName);
        this.parks = dev.capwire.Configuration.parks(idleStrategyName);
        this.busyPoll = !parks;
        this.pollingConnections = !busyPoll;
        this.parkAfterIdleNanos = TimeUnit.MICROSECONDS.toNanos(parkAfterIdleMicros);
        this.invoker = !ownThread;
        if (invoker) {
            this.thread = Thread.currentThread();
            return;
        }
        this.thread = new Thread(this::run, name);
        this.thread.setDaemon(true);
        this.thread.start();
    }

    /** Whether the application drives this loop (no thread of its own). */
    boolean isInvoker() {
        return invoker;
    }

    /** Invoker mode: runs duty cycles until {@code done} completes or {@code timeoutNanos} pass. */
    void runUntil(java.util.concurrent.Future<?> done, long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        while (!done.isDone() && System.nanoTime() - deadline < 0) {
            if (doWork() == 0) {
                Thread.onSpinWait();
            }
        }
    }

    @Override
    public String roleName() {
        return name;
    }

    boolean inLoop() {
        return Thread.currentThread() == thread;
    }

    Thread thread() {
        return thread;
    }

    Timers timers() {
        return timers;
    }

    UnsafeBuffer fdScratch() {
        return fdScratch;
    }

    /** Runs a task on the loop thread (at once when called from it). */
    void execute(Runnable task) {
        if (inLoop()) {
            task.run();
            return;
        }
        while (!tasks.offer(task)) {
            if (!running) {
                throw new IllegalStateException(name + " is stopped");
            }
            Thread.onSpinWait();
        }
        wakeIfParked();
    }

    /** Called by producers after they put frames into {@code connection}'s ring. */
    void scheduleFlush(Connection connection) {
        while (!flushQueue.offer(connection)) {
            Thread.onSpinWait(); // bounded: each connection is queued at most once at a time
        }
        wakeIfParked();
    }

    private void wakeIfParked() {
        if (parked) {
            try {
                poller.wake();
            } catch (NativeIoException e) {
                throw new IllegalStateException("cannot wake " + name, e);
            }
        }
    }

    long register(Channel channel, int fd, int interest) throws NativeIoException {
        long token = ((++nextToken) << 2) | channel.kind();
        if (!(channel instanceof Connection)) {
            poller.add(fd, interest, token);
            channels.put(token, channel);
            return token;
        }
        Connection connection = (Connection) channel;
        if (pollingConnections) {
            poller.add(fd, interest, token);
        }
        channels.put(token, channel);
        connections.add(connection);
        if (!pollingConnections && connections.size() > BUSY_POLL_MAX_CONNECTIONS) {
            startPollingConnections();
        }
        return token;
    }

    /** Too many connections to read each one every cycle: register them all with the poller, for good. */
    private void startPollingConnections() throws NativeIoException {
        pollingConnections = true;
        for (Long2ObjectHashMap<Channel>.EntryIterator entries = channels.entrySet().iterator(); entries.hasNext();) {
            entries.next();
            if (entries.getValue() instanceof Connection) {
                Connection connection = (Connection) entries.getValue();
                poller.add(connection.fd(), connection.interest(), entries.getLongKey());
            }
        }
    }

    void modify(int fd, int interest, long token) throws NativeIoException {
        if (pollingConnections || (token & KIND_MASK) != KIND_CONNECTION) {
            poller.modify(fd, interest, token);
        }
        // Else the connection is read (and, while it wants to, written) directly every cycle.
    }

    void deregister(int fd, long token) {
        Channel channel = channels.remove(token);
        if (channel != null) {
            if (channel instanceof Connection) {
                connections.remove(channel);
                if (!pollingConnections) {
                    return; // never registered
                }
            }
            try {
                poller.remove(fd);
            } catch (NativeIoException ignored) {
                // The fd is about to be closed, which removes it from epoll anyway.
            }
        }
    }

    @Override
    public int doWork() {
        int work = runTasks();
        work += flushConnections();
        if (busyPoll && connections.size() <= BUSY_POLL_MAX_CONNECTIONS && ++cycle % POLLER_EVERY_CYCLES != 0) {
            work += readConnectionsDirectly();
        } else {
            work += pollReadiness(0);
        }
        // Replies written while reading go out now, not after another trip through the poller.
        work += flushConnections();
        work += timers.expireDue();
        return work;
    }

    private int runTasks() {
        return tasks.drain(Runnable::run, FLUSH_BATCH);
    }

    private int flushConnections() {
        int work = flushQueue.drain(Connection::flush, FLUSH_BATCH);
        // By index against the growing size: a close found while writing runs listeners, which may stage
        // frames on other connections; those are written in this same pass.
        int staged = 0;
        for (; staged < stagedFlushes.size(); staged++) {
            stagedFlushes.get(staged).flushStaged();
        }
        stagedFlushes.clear();
        return work + staged;
    }

    /** Loop thread: {@code connection} has frames in staging to write this duty cycle. */
    void flushStagedLater(Connection connection) {
        stagedFlushes.add(connection);
    }

    private int readConnectionsDirectly() {
        int work = 0;
        // Backwards: a connection that closes while being read leaves the list, shifting only those already read.
        for (int i = connections.size() - 1; i >= 0; i--) {
            if (i < connections.size()) {
                work += connections.get(i).pollDirectly();
            }
        }
        return work;
    }

    private int pollReadiness(int timeoutMs) {
        int count;
        try {
            count = poller.await(timeoutMs);
        } catch (NativeIoException e) {
            throw new IllegalStateException(name + ": poller failed", e);
        }
        for (int i = 0; i < count; i++) {
            Channel channel = channels.get(poller.token(i));
            if (channel != null) {
                channel.onReady(poller.ready(i));
            }
        }
        return count;
    }

    private void run() {
        long idleSince = 0;
        try {
            while (running) {
                int work;
                try {
                    work = doWork();
                } catch (RuntimeException | Error e) {
                    onError(e);
                    work = 1;
                }
                if (work > 0) {
                    idleStrategy.reset();
                    idleSince = 0;
                    continue;
                }
                if (!parks) {
                    idleStrategy.idle(); // a spinning loop never parks, so it has no idle time to measure
                    continue;
                }
                long now = System.nanoTime();
                if (idleSince == 0) {
                    idleSince = now;
                }
                if (now - idleSince >= parkAfterIdleNanos) {
                    park(now);
                    idleStrategy.reset();
                    idleSince = 0;
                } else {
                    idleStrategy.idle();
                }
            }
        } finally {
            onClose();
            stopped.countDown();
        }
    }

    private void park(long now) {
        parked = true;
        if (!tasks.isEmpty() || !flushQueue.isEmpty() || !stagedFlushes.isEmpty() || !running) {
            parked = false;
            return;
        }
        long untilTimer = timers.nanosToNext(now);
        int timeoutMs = untilTimer < 0 ? -1 : (int) Math.min(Integer.MAX_VALUE, (untilTimer + 999_999) / 1_000_000);
        try {
            pollReadiness(timeoutMs);
        } finally {
            parked = false;
        }
    }

    @Override
    public void onClose() {
        Object[] open = channels.values().toArray();
        for (Object channel : open) {
            ((Channel) channel).abort(new CloseReason(CloseReason.Kind.LOCAL_ABORT, name + " stopped"));
        }
        runTasks();
        poller.close();
    }

    private void onError(Throwable error) {
        System.err.println(name + ": unexpected error in the event loop (the loop keeps running): " + error);
        error.printStackTrace();
    }

    /** Stops the loop, aborting every connection still on it, and waits for its thread to end. */
    @Override
    public void close() {
        running = false;
        if (invoker) {
            if (stopped.getCount() > 0) {
                onClose();
                stopped.countDown();
            }
            return;
        }
        if (!inLoop()) {
            wakeIfParkedForStop();
            try {
                if (!stopped.await(10, TimeUnit.SECONDS)) {
                    throw new IllegalStateException(name + " did not stop within 10 s");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void wakeIfParkedForStop() {
        try {
            poller.wake();
        } catch (NativeIoException ignored) {
            // Already closed: the loop has stopped.
        }
    }

    /** Something registered with the poller: a connection or a listening socket. */
    interface Channel {
        long kind();

        void onReady(int readyBits);

        void abort(CloseReason reason);
    }

    static boolean readable(int ready) {
        return (ready & (Native.READY_READ | Native.READY_HANGUP | Native.READY_ERROR)) != 0;
    }

    static boolean writable(int ready) {
        return (ready & Native.READY_WRITE) != 0;
    }
}
