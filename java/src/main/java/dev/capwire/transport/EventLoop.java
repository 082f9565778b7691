package dev.capwire.transport;

import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.wire.FrameHeader;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.agrona.BufferUtil;
import org.agrona.ErrorHandler;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.ManyToOneConcurrentArrayQueue;
import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One event loop serving many connections, as an Agrona {@link Agent}. Its duty cycle: run queued tasks,
 * flush the outbound rings of connections that have frames waiting, read what is ready (its
 * {@link ChannelTable}), flush again (what the reads produced), fire due timers. Who runs the cycles is a
 * separate choice: a {@link LoopRunner} on a thread of its own, which idles under the {@link IdleStrategy} and
 * after {@code parkAfterIdleNanos} parks in the poller's wait ({@link #park}); or, in invoker mode, the
 * application's thread through its {@link LoopInvoker}.
 *
 * <p>Waking a parked loop costs a syscall, so producers only do it when the loop is actually parked: a
 * producer publishes its work (a queue offer, which is a full fence) and then reads {@link #parked}; the
 * loop sets {@link #parked} and then re-checks its queues before it waits. One of the two always sees the
 * other, so no wake-up is lost and a busy loop is never woken.
 *
 * <p>Loop work runs under ownership, not on one fixed thread. The loop's thread owns the loop while it runs
 * a duty cycle and lets go while it idles or parks; a caller that hands the loop a task ({@link #execute})
 * while nobody owns it takes ownership and runs the task itself, as Aeron's client conductor lets callers
 * do its work under its lock. A parked or yielding loop thread would otherwise need tens of microseconds of
 * scheduler latency on our hosts to run a task of one or two system calls (a close, a connection's
 * registration), and the caller would wait for that. Everything loop-only (connections' staging and
 * receive state, timers, the channel table) is touched only by the owner; the ownership hand-over (a CAS to
 * take, a release store to give back) orders it between threads. A spinning loop never lets go: it is
 * always on a core, so handing it the task costs less than contending for it.
 */
public final class EventLoop implements Agent, AutoCloseable {

    private static final int FLUSH_BATCH = 1024;
    /** Staging buffers a loop keeps for its connections' next bursts before it gives them to the shared pool. */
    private static final int SPARE_STAGING_BUFFERS = 4;
    /** The longest a parked loop waits before it looks at its timers again, due or not; see {@link #park}. */
    private static final long MAX_PARK_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final String name;
    private final IdleStrategy idleStrategy;
    private final boolean parks;
    private final long parkAfterIdleNanos;
    private final ChannelTable table;
    private final ManyToOneConcurrentArrayQueue<ConnectionChannel> flushQueue = new ManyToOneConcurrentArrayQueue<>(64 * 1024);
    /** Connections the loop itself staged frames into; only this thread touches it. */
    private final java.util.ArrayList<ConnectionChannel> stagedFlushes = new java.util.ArrayList<>();
    private final ManyToOneConcurrentArrayQueue<Runnable> tasks = new ManyToOneConcurrentArrayQueue<>(64 * 1024);
    private final Timers timers;
    /**
     * The one receive buffer of all this loop's connections, lent to each for the length of a read: reads happen
     * one at a time on the loop, and an idle connection then holds no receive memory (it keeps only the start
     * of an unfinished frame). Holds a whole frame plus the start of the next.
     */
    private final UnsafeBuffer receiveBuffer;
    private final BufferPool stagingPool;
    /** Outbound rings of closed connections, for this loop's next ones (see {@link RingPool}). */
    private final RingPool rings;
    private final UnsafeBuffer[] spareStaging = new UnsafeBuffer[SPARE_STAGING_BUFFERS];
    private int spareStagingCount;
    private boolean receiveBufferLent;
    /** Where a connection's recvmsg puts the fds that arrive; every read is on this thread, so one suffices. */
    private final UnsafeBuffer fdScratch = new UnsafeBuffer(
            BufferUtil.allocateDirectAligned(Handles.bytes(FrameHeader.MAX_FDS) + 8, 64)); // the handles, their count
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final Thread thread;
    /** Invoker mode: the owning thread's way to run this loop; null when the loop has a thread of its own. */
    private final LoopInvoker invoker;
    /** Who runs loop work right now; see the class comment. */
    private final LoopOwnership ownership;
    private final NanoClock clock;
    private final ErrorHandler errorHandler;
    /** When a parked loop's wait ends by itself (at most MAX_PARK_NANOS on); written before {@link #parked}. */
    private long parkDeadlineNanos;
    private volatile boolean parked;
    private volatile boolean running = true;
    /** Set once the stopping loop is about to drain its tasks for the last time; see {@link #queue}. */
    private volatile boolean refusingTasks;
    private final AtomicInteger queueing = new AtomicInteger();

    /**
     * @param ownThread false for invoker mode: no thread is started, and the creating thread is the loop
     *                  thread, running duty cycles whenever it calls {@link #doWork()}
     */
    EventLoop(String name, TransportOptions options, BufferPool stagingPool, boolean ownThread)
            throws NativeIoException {
        this.name = name;
        this.stagingPool = stagingPool;
        this.idleStrategy = dev.capwire.Configuration.idleStrategy(options.idleStrategy());
        this.parks = dev.capwire.Configuration.parks(options.idleStrategy());
        this.table = new ChannelTable(name, !parks);
        this.parkAfterIdleNanos = TimeUnit.MICROSECONDS.toNanos(options.parkAfterIdleMicros());
        this.clock = options.clock();
        this.errorHandler = options.errorHandler();
        this.timers = new Timers(clock);
        this.rings = new RingPool(options.ringBytes(), timers, clock);
        this.receiveBuffer = new UnsafeBuffer(
                BufferUtil.allocateDirectAligned(Math.max(64 * 1024, 2 * options.maxFrameBytes()), 64));
        this.ownership = new LoopOwnership(name);
        this.invoker = ownThread ? null : new LoopInvoker(this);
        if (invoker != null) {
            this.thread = Thread.currentThread();
            ownership.tryAcquire(); // for good: an invoker-mode loop is run by its creating thread alone
            return;
        }
        this.thread = new LoopRunner(this).start();
    }

    /** Whether the application drives this loop (no thread of its own). */
    boolean isInvoker() {
        return invoker != null;
    }

    /** Invoker mode: how the owning thread runs this loop; null for a loop with a thread of its own. */
    LoopInvoker invoker() {
        return invoker;
    }

    /**
     * Whether the calling thread runs this loop and may run it to wait: invoker mode, the owning thread,
     * and not inside a callback the loop is running. A loop with its own thread answers false at the cost
     * of a final field.
     */
    boolean drivenByCurrentThread() {
        return invoker != null && invoker.drivenByCurrentThread();
    }

    @Override
    public String roleName() {
        return name;
    }

    /** Whether the loop's thread waits in the poller now (for tests of what callers do meanwhile). */
    boolean isParked() {
        return parked;
    }

    /** Whether the calling thread owns the loop now: the loop's thread in a duty cycle, or a caller running a task. */
    boolean inLoop() {
        return ownership.isHeldByCurrentThread();
    }

    /**
     * The one check before a thread blocks on something loop work will produce: fails at once with
     * {@link IllegalStateException} when nothing could end the wait, and otherwise says how to wait. On a
     * loop with its own thread, loop work may not block (see {@link LoopOwnership#ensureMayBlock}); any other
     * thread may, and false says a plain wait will do. In invoker mode the owning thread may block outside
     * the loop's callbacks, and true says its wait must run the loop ({@link LoopInvoker#runUntil}), since
     * nothing else will; inside a callback (a listener, a reply, a future's continuation, run by {@link
     * Transport#poll()} or by another wait) it may not, since the duty cycle it would wait for is the one
     * running it. Other threads may block on an invoker loop: the owner's polling ends their wait.
     *
     * @param call what blocks, named in the failure (by its {@code toString}, only then)
     */
    boolean ensureMayBlock(Object call) {
        if (invoker == null) {
            ownership.ensureMayBlock(call);
            return false;
        }
        return invoker.ensureMayBlock(call);
    }

    /** The clock this loop's timers and its connections' deadlines run on. */
    NanoClock clock() {
        return clock;
    }

    /** A failure nobody else can be told of goes to the transport's one error handler, which must not throw. */
    void reportError(Throwable failure) {
        try {
            errorHandler.onError(failure);
        } catch (RuntimeException | Error ignored) {
            // An error handler that fails has nobody left to tell; the loop must survive it all the same.
        }
    }

    Timers timers() {
        return timers;
    }

    /**
     * A staging buffer for one of this loop's connections: from the loop's own few spares when it has one (a
     * plain field, no atomics: connections take and give back a buffer with every burst they write), else from
     * the transport's shared pool.
     */
    UnsafeBuffer takeStagingBuffer() {
        int spares = spareStagingCount;
        if (spares > 0) {
            spareStagingCount = spares - 1;
            UnsafeBuffer spare = spareStaging[spares - 1];
            spareStaging[spares - 1] = null;
            return spare;
        }
        return stagingPool.take();
    }

    void giveStagingBuffer(UnsafeBuffer buffer) {
        if (spareStagingCount < spareStaging.length) {
            spareStaging[spareStagingCount++] = buffer;
        } else {
            stagingPool.give(buffer);
        }
    }

    RingPool rings() {
        return rings;
    }

    int stagingBufferBytes() {
        return stagingPool.bufferBytes();
    }

    UnsafeBuffer receiveBuffer() {
        return receiveBuffer;
    }

    /** Lends the receive buffer for one read; false if it is lent already (a read in progress further up). */
    boolean borrowReceiveBuffer() {
        if (receiveBufferLent) {
            return false;
        }
        receiveBufferLent = true;
        return true;
    }

    void returnReceiveBuffer() {
        receiveBufferLent = false;
    }

    boolean isReceiveBufferLent() {
        return receiveBufferLent;
    }

    UnsafeBuffer fdScratch() {
        return fdScratch;
    }

    /**
     * Runs a task as loop work: at once when the caller owns the loop already or can take it (the loop is
     * idle), else queued for the loop's thread. A task run by the caller may throw to the caller.
     *
     * @throws IllegalStateException when the loop has stopped: the task will never run
     */
    void execute(Runnable task) {
        if (inLoop()) {
            if (invoker != null) {
                invoker.runAsCallbacks(task);
            } else {
                task.run();
            }
            return;
        }
        // Another loop's thread queues instead: its own connections wait while it works, and spreading
        // connections over loops would mean little if the accepting loop ran their first reads itself.
        if (invoker == null && !(Thread.currentThread() instanceof LoopThread) && ownership.tryAcquire()) {
            try {
                task.run();
            } finally {
                handBack();
            }
            return;
        }
        queue(task);
        wakeIfParked();
    }

    /**
     * Queues a task for the loop's thread, or refuses it once the stopping loop has drained its queue for the
     * last time: a task offered after that drain would never run, and its caller (a registration, a close) would
     * wait for it for good. The count of callers between their check and their offer is what lets the stopping
     * loop wait for those that passed the check before it drains (see {@link #refuseTasks}).
     */
    private void queue(Runnable task) {
        queueing.getAndIncrement();
        try {
            if (refusingTasks) {
                throw new IllegalStateException(name + " is stopped");
            }
            while (!tasks.offer(task)) {
                if (!running) {
                    throw new IllegalStateException(name + " is stopped");
                }
                Thread.onSpinWait();
            }
        } finally {
            queueing.getAndDecrement();
        }
    }

    /**
     * The stopping loop's last drain comes after this: each caller either sees the flag and is refused, or is
     * counted in {@link #queueing} before the loop reads the count, and its task is queued before the drain.
     */
    private void refuseTasks() {
        refusingTasks = true;
        while (queueing.get() != 0) {
            Thread.onSpinWait(); // a caller that passed the check is an offer away from done
        }
    }

    /**
     * A caller ends its task: frames it staged go out now (a parked loop would not flush them until something
     * woke it), and a parked loop is woken if the task set a timer due before the loop's wait would end.
     */
    private void handBack() {
        try {
            flushStaged();
            if (parked && timers.earliestScheduledSinceReset() < parkDeadlineNanos) {
                wakeIfParked();
            }
        } finally {
            ownership.release();
        }
    }

    /** Called by producers after they put frames into {@code connection}'s ring. */
    void scheduleFlush(ConnectionChannel connection) {
        while (!flushQueue.offer(connection)) {
            Thread.onSpinWait(); // bounded: each connection is queued at most once at a time
        }
        wakeIfParked();
    }

    private void wakeIfParked() {
        if (parked) {
            try {
                table.wake();
            } catch (NativeIoException e) {
                if (!refusingTasks) {
                    throw new IllegalStateException("cannot wake " + name, e);
                }
                // Stopping: it parks no more, and its poller may be closed. Its queued tasks run all the same, so
                // this must not read as the refusal (IllegalStateException) a caller would undo its task for.
            }
        }
    }

    long register(Channel channel, long fd, int interest) throws NativeIoException {
        return table.register(channel, fd, interest);
    }

    void modify(long fd, int interest, long token) throws NativeIoException {
        table.modify(fd, interest, token);
    }

    /** Removes a channel whose fd is still open, the poller's registration with it. */
    void deregister(long fd, long token) {
        table.deregister(fd, token);
    }

    /** Forgets a connection whose fd is already closed (see {@link ChannelTable#forgetClosed}). */
    void forgetClosed(ConnectionChannel connection, long token) {
        table.forgetClosed(connection, token);
    }

    @Override
    public int doWork() {
        int work = runTasks();
        work += flushConnections();
        work += table.readReady();
        // Replies written while reading go out now, not after another trip through the poller.
        work += flushConnections();
        work += timers.expireDue();
        return work;
    }

    private int runTasks() {
        return tasks.drain(Runnable::run, FLUSH_BATCH);
    }

    private int flushConnections() {
        return flushQueue.drain(ConnectionChannel::flush, FLUSH_BATCH) + flushStaged();
    }

    private int flushStaged() {
        // By index against the growing size: a close found while writing runs listeners, which may stage
        // frames on other connections; those are written in this same pass.
        int staged = 0;
        for (; staged < stagedFlushes.size(); staged++) {
            stagedFlushes.get(staged).flushStaged();
        }
        stagedFlushes.clear();
        return staged;
    }

    /** Loop work: {@code connection} has frames in staging to write this duty cycle (or as the caller hands back). */
    void flushStagedLater(ConnectionChannel connection) {
        stagedFlushes.add(connection);
    }

    /**
     * One duty cycle under the loop's guard: nothing it calls can end the loop's thread; a failure goes to the
     * error handler and counts as work (so the runner does not idle on top of it).
     */
    int guardedDutyCycle() {
        try {
            return doWork();
        } catch (RuntimeException | Error e) {
            onError(e);
            return 1;
        }
    }

    boolean isRunning() {
        return running;
    }

    /** Whether this loop ever parks in the poller (a spinning loop never does). */
    boolean parks() {
        return parks;
    }

    long parkAfterIdleNanos() {
        return parkAfterIdleNanos;
    }

    IdleStrategy idleStrategy() {
        return idleStrategy;
    }

    LoopOwnership ownership() {
        return ownership;
    }

    /** The runner's thread ends: every channel is aborted, and the loop stays owned for good. */
    void stopped() {
        try {
            onClose();
        } finally {
            stopped.countDown(); // still owning: a stopped loop's tasks are queued, never run by callers
        }
    }

    /** Invoker mode: {@link #stopped} once, by whichever of the owner's poll or close gets there first. */
    void stopOnce() {
        if (stopped.getCount() > 0) {
            stopped();
        }
    }

    /**
     * Waits in the poller, not owning the loop, until the next timer is due or {@link #MAX_PARK_NANOS} pass.
     * A caller that takes the loop meanwhile and sets a timer due earlier than that wakes it (see
     * {@link #handBack}); the cap spares it the wake-up for timers further away (a keepalive ten seconds out,
     * a close's linger), which each new connection sets.
     */
    void park(long now) {
        park(now, MAX_PARK_NANOS);
    }

    /**
     * {@link #park(long)} for at most {@code maxWaitNanos}. An invoker-mode loop's owner parks this way while it
     * waits for something (see {@link LoopInvoker#runUntil}); it keeps the loop meanwhile, since nobody else may
     * run it, and other threads' tasks wake it as they would a parked loop thread.
     */
    void park(long now, long maxWaitNanos) {
        long untilTimer = timers.nanosToNext(now);
        long waitNanos = untilTimer < 0 ? maxWaitNanos : Math.min(untilTimer, maxWaitNanos);
        timers.resetEarliestScheduled();
        parkDeadlineNanos = now + waitNanos;
        parked = true;
        if (!tasks.isEmpty() || !flushQueue.isEmpty() || !stagedFlushes.isEmpty() || !running) {
            parked = false;
            return;
        }
        int timeoutMs = (int) ((waitNanos + 999_999) / 1_000_000);
        int count;
        boolean handOver = invoker == null;
        if (handOver) {
            ownership.release();
        }
        try {
            count = table.awaitReadiness(timeoutMs);
        } finally {
            parked = false;
            if (handOver) {
                ownership.acquire(idleStrategy);
            }
        }
        try {
            table.dispatch(count);
        } catch (RuntimeException | Error e) {
            onError(e); // what a parked loop reads is dispatched here, outside doWork's guard
        }
    }

    @Override
    public void onClose() {
        refuseTasks();
        while (runTasks() > 0) {
            // Tasks queued until refuseTasks returned: the last ones this loop runs.
        }
        // After the last tasks: a connection or server one of them registered is aborted with the rest, not left
        // open on a loop that no longer runs.
        table.abortAll(new CloseReason(CloseReason.Kind.LOCAL_ABORT, name + " stopped"));
        table.close();
        // The aborts retired their connections' rings; one that a sender is still writing into will not settle
        // on timers that no longer fire, so its senders drop what they commit to it themselves.
        rings.abandonUnsettled();
    }

    private void onError(Throwable error) {
        reportError(new IllegalStateException(name + ": unexpected error in the event loop (it keeps running)", error));
    }

    /**
     * Stops the loop, aborting every connection still on it, and waits for its thread to end. In invoker mode
     * only the owning thread may run loop work, so another thread asks the owner's next poll to stop it and
     * waits for that; unless the owner has ended, when nobody can race this thread for the loop any more.
     */
    @Override
    public void close() {
        running = false;
        if (invoker != null) {
            if (inLoop() || !thread.isAlive()) {
                stopOnce();
                return;
            }
            awaitStopped(name + " was not polled by its owning thread " + thread.getName()
                    + " within 10 s: it stops at that thread's next poll");
            return;
        }
        if (!inLoop()) {
            wakeIfParkedForStop();
            awaitStopped(name + " did not stop within 10 s");
        }
    }

    /** Whether the thread that owns an invoker-mode loop still runs (another thread may then not run the loop). */
    boolean ownerAlive() {
        return thread.isAlive();
    }

    private void awaitStopped(String otherwise) {
        try {
            if (!stopped.await(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException(otherwise);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void wakeIfParkedForStop() {
        try {
            table.wake();
        } catch (NativeIoException ignored) {
            // Already closed: the loop has stopped.
        }
    }

    /** The thread of a loop that is not in invoker mode (see {@link LoopRunner}). */
    static final class LoopThread extends Thread {
        LoopThread(Runnable run, String name) {
            super(run, name);
            setDaemon(true);
        }
    }

    static boolean readable(int ready) {
        return (ready & (Native.READY_READ | Native.READY_HANGUP | Native.READY_ERROR)) != 0;
    }

    static boolean writable(int ready) {
        return (ready & Native.READY_WRITE) != 0;
    }
}
