package dev.capwire.bench.profile;

import dev.capwire.bench.peers.PeerProcess;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/** One cross-process workload of the profiling tool: a server in a child JVM, and what each client thread does. */
interface Scenario extends AutoCloseable {
    /**
     * One application thread's work until {@code deadlineNanos}: each completed operation counted in {@code done},
     * its latency in nanoseconds recorded in {@code latencies}.
     */
    void run(int thread, long deadlineNanos, Recorder latencies, LongAdder done) throws Exception;

    /** The server JVM: its process id (what it spends, from /proc) and its command line (the profiler's). */
    PeerProcess server();

    /** The latencies of the interval that just ended; a scenario whose latencies are recorded elsewhere says so. */
    default Histogram interval(Recorder latencies) throws Exception {
        return latencies.getIntervalHistogram();
    }

    /** More lines for the summary (each ending with a line separator), once the measured seconds are over. */
    default String summary() throws Exception {
        return "";
    }
}
