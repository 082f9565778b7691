package dev.capwire.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A one-way stream of 64-byte-payload NOTIFY frames from one application thread to a sink in a child JVM over a
 * Unix socket; the score is frames per second. The sink decodes every frame (Capwire: its listener sees each;
 * JDK: each header is walked) and echoes only a sync frame, which every iteration ends with, so an iteration
 * counts only frames that arrived. Peers: {@code capwire-offer} ({@code offerNotify} per frame),
 * {@code capwire-batch} (a {@code NotifyBatch} of the ring's largest record, committed when full) and the baseline
 * {@code jdk-batch} (frames copied into a 64 KiB buffer, written with one blocking write when full).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g"})
public class StreamBenchmark extends OneWayTrial {
    /** Frames per benchmark call: the loop is the peer's own, so JMH's per-call cost is spread thin. */
    static final int FRAMES_PER_CALL = 1024;

    @Param({"capwire-offer", "capwire-batch", "capwire-batch-invoker", "jdk-batch"})
    public String peer;

    @Param("64")
    public int payloadBytes;

    @Setup(Level.Trial)
    public void connect() throws Exception {
        open(peer, payloadBytes);
    }

    @Benchmark
    @OperationsPerInvocation(FRAMES_PER_CALL)
    public void frames() {
        client.send(FRAMES_PER_CALL);
    }
}
