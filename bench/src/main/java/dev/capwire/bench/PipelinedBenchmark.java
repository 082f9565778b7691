package dev.capwire.bench;

import dev.capwire.bench.peers.EchoPeer;
import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.peers.Peers;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Pipelined echo with up to {@code window} frames in flight between two JVMs over a Unix socket: one
 * operation is one 64-byte frame sent (and, within the window, echoed back), so the score is frames per
 * second. Capwire's NOTIFY echo ({@code capwire-backoff}) and its request/reply path ({@code capwire-request}:
 * correlation, deadlines, a reply handler) against Netty and against the raw framed JDK echo ({@code jdk-raw}: one non-blocking
 * {@code SocketChannel} on each side, every complete frame decoded and written back, no correlation) in the same
 * run; run with {@code -prof gc} for the allocation per frame.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS, "-Xmx1g"})
public class PipelinedBenchmark {
    @Param({"capwire-backoff", "capwire-request", "capwire-request-invoker", "netty", "jdk-raw"})
    public String peer;

    @Param("1024")
    public int window;

    @Param("64")
    public int payloadBytes;

    private PeerProcess server;
    private EchoPeer client;
    private long sent;

    @Setup(Level.Trial)
    public void connect() throws Exception {
        server = PeerProcess.start(Peers.serverKind(peer), Peers.idleStrategy(peer));
        client = Peers.client(peer, server.socket(), payloadBytes);
    }

    /** Lets every frame of the iteration come back, so the next starts with an empty pipe. */
    @TearDown(Level.Iteration)
    public void drain() {
        while (client.received() < sent) {
            client.flush(); // a single-threaded peer (jdk-raw) reads the echoes only while it flushes
            Thread.yield();
        }
    }

    @TearDown(Level.Trial)
    public void disconnect() throws Exception {
        client.close();
        server.close();
    }

    @Benchmark
    public void frame() {
        // Waiting yields: on two cores a spinning benchmark thread takes a core from the threads it waits for
        // (a peer's loop thread, the server). A peer that does its own I/O (jdk-raw, invoker mode) does it in
        // flush().
        while (sent - client.received() >= window) {
            client.flush();
            Thread.yield();
        }
        while (!client.send()) {
            client.flush();
            Thread.yield();
        }
        sent++;
    }
}
