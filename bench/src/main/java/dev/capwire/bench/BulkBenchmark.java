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
 * Bulk (issue 15): 1 MiB messages sent one way from one application thread to a sink in a child JVM over a Unix
 * socket. One operation is one payload byte, so the score is payload bytes per second. {@code capwire-send}: one
 * {@code Connection.sendNotify} per message, which cuts it into frames of at most {@code capwire.ringBytes / 8}
 * (32 KiB by default); the sink's listener sees each whole message, reassembled. The baseline {@code jdk-batch}
 * writes each message as one frame with one blocking {@code SocketChannel.write}; its sink reads 256 KiB at a time
 * and counts a frame once its last byte has arrived. Each iteration ends with a sync frame the sink echoes, so an
 * iteration counts only messages that arrived. {@code QuickRun} also divides {@code capwire-send} by the C stream
 * probe run with the same message size.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g"})
public class BulkBenchmark extends OneWayTrial {
    /** The message: 1 MiB of payload. */
    public static final int MESSAGE_BYTES = 1 << 20;

    @Param({"capwire-send", "jdk-batch"})
    public String peer;

    @Setup(Level.Trial)
    public void connect() throws Exception {
        open(peer, MESSAGE_BYTES);
    }

    /** One message per call; the score counts its bytes. */
    @Benchmark
    @OperationsPerInvocation(MESSAGE_BYTES)
    public void bytes() {
        client.send(1);
    }
}
