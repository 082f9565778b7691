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
    private final Long2ObjectHashMap<RunningCall> running = new Long2ObjectHashMap<>(); // guarded by itself
    /** {@code running.size()}, written under its lock, read without it (the loop's limit check, once per call). */
    private volatile int runningCount;
    private final Int2ObjectHashMap<ProducerStream> streams = new Int2ObjectHashMap<>(); // guarded by running
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
            return streams.size();
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
     * returns null, or the reason {@code target} was revoked, and then the call is not entered.
     */
    String enter(RunningCall call, Export target) {
        synchronized (running) {
            // Checked again here, under the lock that a revocation takes to find the calls running on the export
            // (pinCallsOn): a revocation that began (marked the export) before this point is seen now, and one
            // that begins after it finds this call in the table. Either way the revocation wins: a call never runs
            // on an export whose revocation missed it.
            String revokedMeanwhile = target == null ? null : target.revoked;
            if (revokedMeanwhile == null) {
                running.put(call.id, call);
                runningCount = running.size();
                if (call.stream != null) {
                    streams.put(call.stream.id(), call.stream);
                }
            }
            return revokedMeanwhile;
        }
    }

    /** {@code call} was answered with {@code status}: it leaves the table, and is counted. */
    void finished(RunningCall call, StatusCode status) {
        synchronized (running) {
            running.remove(call.id);
            runningCount = running.size();
            if (call.stream != null) {
                streams.remove(call.stream.id());
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

    /**
     * The running call that produces stream {@code streamId}, pinned; null when the stream is not open, or is
     * open with no running call (see {@link #openStream}).
     */
    RunningCall pinProducer(int streamId) {
        synchronized (running) {
            ProducerStream stream = streams.get(streamId);
            if (stream != null) {
                for (RunningCall candidate : running.values()) {
                    if (candidate.stream == stream) {
                        candidate.pinned = true;
                        return candidate;
                    }
                }
            }
            return null;
        }
    }

    /**
     * Stream {@code streamId}, or null when it is not open. A stream can be open while no running call has it:
     * a peer that reused a running call's correlation id put its later call in the earlier one's place.
     */
    ProducerStream openStream(int streamId) {
        synchronized (running) {
            return streams.get(streamId);
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
            streams.clear();
            return all;
        }
    }
}
