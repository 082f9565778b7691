package dev.capwire.rpc;

import dev.capwire.rpc.ExportTable.Export;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.atomic.AtomicLong;
import org.agrona.collections.Int2ObjectHashMap;
import org.agrona.collections.Long2ObjectHashMap;

/**
 * The calls one connection is serving (the answers table of docs/rpc-protocol.md), the streams they produce,
 * and how many calls it has served and failed. The table has its own lock, held for table work only, never
 * while answering, cancelling or running a handler. A thread other than the one that answers a call takes it
 * from here only through a method that pins it under that lock (see {@link RunningCall}, "Reuse").
 */
final class RunningCalls {
    /**
     * What {@link #enter} answers, compared by identity, when the call's id is the id of a call still running:
     * the peer broke the rule that its request ids are unique while in flight, and the answers table, keyed by
     * them, cannot tell the two apart (which would the answer or a CANCEL be for?).
     */
    static final String ID_IN_USE = "the id of a call still running";

    private final Long2ObjectHashMap<RunningCall> running = new Long2ObjectHashMap<>(); // guarded by itself
    /** {@code running.size()}, written under its lock, read without it (the loop's limit check, once per call). */
    private volatile int runningCount;
    /** The running calls that produce a stream, by stream id. */
    private final Int2ObjectHashMap<RunningCall> producers = new Int2ObjectHashMap<>(); // guarded by running
    private final AtomicLong served = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();

    int size() {
        synchronized (running) {
            return running.size();
        }
    }

    /** The number of calls running, read without the lock: the loop's in-flight check. */
    int runningCount() {
        return runningCount;
    }

    int openStreams() {
        synchronized (running) {
            return producers.size();
        }
    }

    long served() {
        return served.get();
    }

    long failed() {
        return failed.get();
    }

    /** A call, or a call refused before it entered the table, was answered with {@code status}. */
    void count(StatusCode status) {
        (status == StatusCode.OK ? served : failed).incrementAndGet();
    }

    /**
     * Loop: {@code call}, on {@code target} (null for the runtime cap), enters the table with its stream, if any;
     * returns null, or why the call was not entered: {@link #ID_IN_USE}, or the reason {@code target} was
     * revoked.
     */
    String enter(RunningCall call, Export target) {
        synchronized (running) {
            // Checked again here, under the lock that a revocation takes to find the calls running on the export
            // (pinCallsOn): a revocation that began (marked the export) before this point is seen now, and one
            // that begins after it finds this call in the table. Either way the revocation wins: a call never runs
            // on an export whose revocation missed it.
            String revokedMeanwhile = target == null ? null : target.revoked;
            if (revokedMeanwhile != null) {
                return revokedMeanwhile;
            }
            RunningCall earlier = running.put(call.id, call); // one lookup: the usual call finds no earlier one
            if (earlier != null) {
                running.put(call.id, earlier);
                return ID_IN_USE;
            }
            runningCount = running.size();
            if (call.stream != null) {
                producers.put(call.stream.id(), call);
            }
            return null;
        }
    }

    /** {@code call} was answered with {@code status}: it leaves the table, and is counted. */
    void finished(RunningCall call, StatusCode status) {
        synchronized (running) {
            running.remove(call.id);
            runningCount = running.size();
            if (call.stream != null) {
                producers.remove(call.stream.id());
            }
            call.finishedUnpinned = !call.pinned;
        }
        count(status);
    }

    /** Call {@code id}, pinned; null when it is not running. */
    RunningCall pin(long id) {
        synchronized (running) {
            RunningCall call = running.get(id);
            if (call != null) {
                call.pinned = true;
            }
            return call;
        }
    }

    boolean isRunning(long id) {
        synchronized (running) {
            return running.containsKey(id);
        }
    }

    /** Whether stream {@code streamId} is open: its producing call is running. */
    boolean producing(int streamId) {
        synchronized (running) {
            return producers.containsKey(streamId);
        }
    }

    /** The running call that produces stream {@code streamId}, pinned; null when the stream is not open. */
    RunningCall pinProducer(int streamId) {
        synchronized (running) {
            RunningCall producer = producers.get(streamId);
            if (producer != null) {
                producer.pinned = true;
            }
            return producer;
        }
    }

    /** The calls running on {@code export}, each pinned. */
    RunningCall[] pinCallsOn(Export export) {
        synchronized (running) {
            RunningCall[] affected = running.values().stream().filter(call -> call.target == export)
                    .toArray(RunningCall[]::new);
            for (RunningCall call : affected) {
                call.pinned = true;
            }
            return affected;
        }
    }

    /** The connection closed: every running call, each pinned, and the table and its streams emptied. */
    RunningCall[] pinAllAndClear() {
        synchronized (running) {
            RunningCall[] all = running.values().toArray(new RunningCall[0]);
            for (RunningCall call : all) {
                call.pinned = true;
            }
            running.clear();
            runningCount = 0;
            producers.clear();
            return all;
        }
    }
}
